"""Ingest: bytes of an uploaded file -> parsed text -> chunks -> vectors -> store.

One write path, in steps each engine shares: :meth:`IngestPipeline.check` once where the bytes enter
(a 4xx before anything is saved), ``prepare`` parses, ``embed_batch`` chunks and embeds, ``store_batch``
writes. The local engine runs ``embed_batch`` here; the Ray engine embeds on its actors and hands
:class:`EmbeddedDocument` s to the same ``store_batch``. A batch prepares every file before storing
any, so a collection is created only once a file of it was checked. A message's attachments are
parsed with it and stored after it, linked to it (:mod:`rag.pipeline.ingest.attachments`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

import numpy as np

from core.errors import InvalidInputError
from indexes import parse_spec
from ingest.check import check_file
from ingest.chunk import Chunker
from ingest.embed import Embedder
from ingest.parse import parse_bytes
from ingest.parse.sandbox import parse_sandboxed
from ingest.tables import extract_tables
from rag.pipeline.ingest.attachments import IngestAttachments, prepare_attachments
from rag.pipeline.ingest.claims import Claims
from rag.pipeline.ingest.files import IngestFiles
from rag.pipeline.ingest.records import (
    EmbeddedDocument,
    EmbedProgress,
    IngestResult,
    IngestTimings,
    ParseProgress,
    PreparedDocument,
    Progress,
    embedding_input,
    new_document,
)
from rag.store import Collection, Store, check_collection_name
from rag.store.lifecycle import check_chunking, check_shards, chunking_of
from rag.store.records import DocumentToAdd


class IngestPipeline(IngestFiles, IngestAttachments):
    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        chunker: Chunker,
        max_upload_bytes: int,
        embedder_for: Callable[[str], Embedder] | None = None,
    ) -> None:
        """``embedder`` embeds the uploads of new collections; ``embedder_for`` returns the embedder that
        wrote an existing collection (by ``Collection.embed_model``), so one collection never holds
        vectors of two embedders (None: collections of other embedders refuse uploads)."""
        self.store = store
        self.embedder = embedder
        self.embedder_for = embedder_for
        self.chunker = chunker
        self.max_upload_bytes = max_upload_bytes
        self._claims = Claims()
        self._chunkers: dict[tuple[int, int], Chunker] = {(chunker.max_tokens, chunker.overlap): chunker}

    # -- at the door ------------------------------------------------------
    def check(
        self, collection: str, files: list[tuple[str, bytes, str | None]], index_spec: str | None = None
    ) -> list[str]:
        """Every 4xx check of an upload request, before anything is saved: the collection's name, the index
        spec, and each file's size, type and emptiness (:func:`ingest.check.check_file`).

        Returns:
            each file's media type, in order: what ``prepare`` parses it as.
        """
        check_collection_name(collection)
        if index_spec is not None:
            parse_spec(index_spec)
        return [self.check_file(name, data, media_type) for name, data, media_type in files]

    def check_file(self, filename: str, data: bytes, media_type: str | None = None) -> str:
        """One file's size, type and emptiness; returns its media type."""
        return check_file(filename, data, media_type, self.max_upload_bytes)

    def prepare(
        self,
        filename: str,
        data: bytes,
        media_type: str,
        *,
        sandbox: bool = True,
        password: str | None = None,
        on_progress: ParseProgress | None = None,
        depth: int = 0,
    ) -> PreparedDocument:
        """Parse one checked upload (``media_type``: what its check returned), and check and parse its attachments.

        The parse runs in a worker process with a time and a memory limit
        (:mod:`ingest.parse.sandbox`), so a file crafted to loop or to expand fails alone
        (422) and the process is unharmed; ``sandbox=False`` parses in this process
        (tests and benchmarks of many small, trusted files).

        Args:
            password: opens an encrypted Office file (and the message's encrypted attachments); never stored.
            on_progress: hears ``(done, total, unit)`` as a slow parse goes (OCR, a page at a time).
            depth: how deep in messages this file is attached (0: an upload).
        """
        t0 = time.perf_counter()
        if sandbox:
            doc = parse_sandboxed(data, filename, media_type, password=password, on_progress=on_progress)
        else:
            doc = parse_bytes(data, filename, media_type, password=password)
        seconds = time.perf_counter() - t0

        def attachment(name: str, content: bytes, declared: str | None) -> PreparedDocument:
            media = self.check_file(name, content, declared)
            how = {"sandbox": sandbox, "password": password, "on_progress": on_progress, "depth": depth + 1}
            return self.prepare(name, content, media, **how)

        attachments, skipped = prepare_attachments(filename, doc, attachment, depth)
        sha = hashlib.sha256(data).hexdigest()
        return PreparedDocument(filename, sha, len(data), doc, seconds, attachments, skipped)

    def open_collection(self, name: str, index_spec: str | None = None) -> Collection:
        """The collection ``name``, created for this pipeline's embedder (with ``index_spec``) if missing."""
        return self.store.get_or_create_collection(
            name, self.embedder.dim, self.embedder.model_name, index_spec=index_spec
        )

    # -- the write ---------------------------------------------------------
    def commit_batch(
        self,
        collection: Collection,
        prepared: list[PreparedDocument],
        progress: Progress | None = None,
        on_stage: Callable[[str], None] | None = None,
    ) -> list[IngestResult]:
        """Chunk, embed and store prepared documents as one write (:meth:`embed_batch`, :meth:`store_batch`),
        then their attachments as another (:meth:`commit_attachments`).

        The bytes' claims are held throughout the first write, so a second upload of the same bytes waits while
        the first is embedded, then finds it stored and is not embedded again; they are given back before the
        attachments are stored (an attachment may be the bytes of another file of the batch). ``on_stage``
        hears "embedding" and then "indexing" as the batch reaches them.
        """
        with self._claims.hold_all(collection.id, [p.sha256 for p in prepared]):
            if on_stage is not None:
                on_stage("embedding")
            embedded = self.embed_batch(collection, prepared, progress)
            if on_stage is not None:
                on_stage("indexing")
            results = self.store_batch(collection, embedded)
        return self.commit_attachments(collection, prepared, results, progress)

    def embed_batch(
        self, collection: Collection, prepared: list[PreparedDocument], progress: Progress | None = None
    ) -> list[EmbeddedDocument]:
        """Chunk and embed prepared documents with the collection's chunker and embedder, in one call.

        Every chunk of the batch is embedded in one call (the embedder sorts them by length, so
        batches waste little on padding). Bytes the collection holds already, and repeats within
        the batch, are not embedded (the content hash is looked up here, once per document).
        ``progress`` hears the batch's chunk count, then how many are embedded after each of the
        embedder's batches.
        """
        embedder = self._embedder_of(collection)
        chunker = self.chunker_for(collection)
        seen: dict[str, int | None] = {}  # sha256 -> the document holding it (None: this batch embeds it)
        out: list[tuple[PreparedDocument, list, float, int | None]] = []
        for p in prepared:
            if p.sha256 not in seen:
                seen[p.sha256] = self.store.catalog.find_by_sha(collection.id, p.sha256)
                if seen[p.sha256] is None:
                    t = time.perf_counter()
                    chunks = chunker.chunk(p.parsed)
                    out.append((p, chunks, time.perf_counter() - t, None))
                    continue
            out.append((p, [], 0.0, seen[p.sha256]))  # a repeat: store_batch names the document it is
        texts = [embedding_input(p.parsed.title, c.heading_path, c.text) for p, cs, _, _ in out for c in cs]
        if progress is not None:
            progress(EmbedProgress(len(texts), 0))
        done = 0

        def embedded(n: int) -> None:
            nonlocal done
            done += n
            if progress is not None:
                progress(EmbedProgress(len(texts), done))

        t = time.perf_counter()
        # a batch of duplicates only has nothing to embed
        vectors = embedder.embed(texts, progress=embedded) if texts else np.zeros((0, embedder.dim), np.float32)
        per_chunk = (time.perf_counter() - t) / max(len(texts), 1)
        result, at = [], 0
        for p, chunks, secs, stored_as in out:
            n = len(chunks)
            result.append(EmbeddedDocument(p, chunks, vectors[at : at + n], secs, per_chunk * n, stored_as))
            at += n
        return result

    def store_batch(
        self, collection: Collection, embedded: list[EmbeddedDocument], embed_model: str | None = None
    ) -> list[IngestResult]:
        """Store embedded documents by one append and one catalog transaction (:meth:`Store.add_documents`),
        so a thousand small files cost one index write, not a thousand; their tables go beside them.

        Args:
            embed_model: the embedder that made the vectors (default: the collection's own, as
                :meth:`embed_batch` uses).
        Returns:
            one result per document, in order; the first of repeated bytes is the one stored, and each
            stored one's ``seconds`` has a share of the write time by its chunks.
        """
        todo = [e for e in embedded if e.stored_as is None]
        t = time.perf_counter()
        items = [DocumentToAdd(new_document(e.prepared), e.chunks, e.vectors) for e in todo]
        added = iter(self.store.add_documents(collection, items, embed_model=embed_model or collection.embed_model))
        stored = {}  # id(EmbeddedDocument) -> the store's answer
        for e in todo:
            stored[id(e)] = result = next(added)
            if not result.duplicate:
                tables = extract_tables(e.prepared.parsed, e.prepared.filename)
                self.store.save_tables(collection, result.id, e.prepared.filename, tables)
        write_per_chunk = (time.perf_counter() - t) / max(sum(len(e.chunks) for e in todo), 1)
        results = []
        for e in embedded:
            p, answer = e.prepared, stored.get(id(e))
            if answer is None or answer.duplicate:
                doc_id = e.stored_as if answer is None else answer.id
                results.append(IngestResult(doc_id, p.filename, collection.name, True, 0))
                continue
            timings = IngestTimings(p.parse_seconds, e.chunk_seconds, e.embed_seconds, write_per_chunk * len(e.chunks))
            results.append(IngestResult(answer.id, p.filename, collection.name, False, len(e.chunks), timings))
        return results

    # -- collections -------------------------------------------------------
    def create_collection(
        self,
        name: str,
        index_spec: str | None = None,
        chunk_tokens: int | None = None,
        chunk_overlap: int | None = None,
        shards: int = 1,
    ) -> Collection:
        """A new, empty collection for this pipeline's embedder, with its own index, chunking and shard count
        (> 1: its vectors are split over Ray actors) if given."""
        check_collection_name(name)
        check_chunking(chunk_tokens, chunk_overlap, getattr(self.embedder, "max_tokens", None))
        check_shards(shards, self.store.open_sharded is not None)
        return self.store.create_collection(
            name, self.embedder.dim, self.embedder.model_name, index_spec, chunk_tokens, chunk_overlap, shards=shards
        )

    def chunker_for(self, collection: Collection) -> Chunker:
        """The chunker of a collection's settings (the pipeline's own where it has none)."""
        tokens, overlap = chunking_of(collection, self.chunker.max_tokens, self.chunker.overlap)
        key = (tokens, overlap)
        if key not in self._chunkers:
            self._chunkers[key] = Chunker(self.chunker.tokenizer, tokens, overlap)
        return self._chunkers[key]

    def _embedder_of(self, collection: Collection) -> Embedder:
        """The embedder that wrote ``collection``: its new vectors must be of the same kind."""
        if collection.embed_model == self.embedder.model_name:
            return self.embedder
        if self.embedder_for is None:
            raise InvalidInputError(
                f"collection {collection.name!r} holds vectors of {collection.embed_model}, this ingest embeds "
                f"with {self.embedder.model_name}: set RAG_EMBED_QUANT to its kind or use another collection"
            )
        return self.embedder_for(collection.embed_model)
