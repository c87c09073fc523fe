"""Ingest: bytes of an uploaded file -> parsed text -> chunks -> vectors -> store.

Uploads are handled in two phases: ``prepare`` checks (size, type,
emptiness) and parses, ``commit`` chunks, embeds and stores. A batch prepares
every file before committing any, so one bad file rejects the batch before
anything is stored and before a collection is created.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from core.errors import InvalidInputError, RAGError
from indexes import parse_spec
from ingest.chunk import Chunker
from ingest.embed import Embedder
from ingest.errors import PayloadTooLargeError
from ingest.parse import check_upload, parse_bytes
from ingest.parse.sandbox import parse_sandboxed
from ingest.tables import extract_tables
from rag.pipeline.ingest.claims import Claims
from rag.pipeline.ingest.records import (
    IngestResult,
    PreparedDocument,
    embedding_input,
    new_document,
    size_limit_message,
)
from rag.store import Collection, Store, check_collection_name
from rag.store.lifecycle import check_chunking, check_shards, chunking_of
from rag.store.records import DocumentToAdd


class IngestPipeline:
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

    def check(self, filename: str, data: bytes, media_type: str | None = None) -> str:
        """Validate an upload without storing or parsing it (size, type, emptiness); returns its media type.

        The type is what the file is (:func:`ingest.parse.check_upload`): its extension, else its
        Content-Type, except that bytes starting ``%PDF-`` are a PDF; binary bytes sent as text (an
        executable renamed ``.txt``) are refused with 415.
        """
        if len(data) > self.max_upload_bytes:
            raise PayloadTooLargeError(size_limit_message(filename, len(data), self.max_upload_bytes))
        return check_upload(data, filename, media_type)

    def prepare(
        self, filename: str, data: bytes, media_type: str | None = None, *, sandbox: bool = True
    ) -> PreparedDocument:
        """Validate and parse one upload; raises a 4xx-class error before anything is stored.

        The parse runs in a worker process with a time and a memory limit
        (:mod:`ingest.parse.sandbox`), so a file crafted to loop or to expand fails alone
        (422) and the process is unharmed; ``sandbox=False`` parses in this process
        (tests and benchmarks of many small, trusted files).
        """
        media = self.check(filename, data, media_type)
        t0 = time.perf_counter()
        doc = parse_sandboxed(data, filename, media) if sandbox else parse_bytes(data, filename, media)
        return PreparedDocument(filename, hashlib.sha256(data).hexdigest(), len(data), doc, time.perf_counter() - t0)

    def commit(
        self,
        collection: str,
        prepared: PreparedDocument,
        progress: Callable[[int], None] | None = None,
        index_spec: str | None = None,
    ) -> IngestResult:
        """Chunk, embed and store a prepared document, or recognise it as a duplicate (see :meth:`commit_batch`)."""
        return self.commit_batch(collection, [prepared], progress, index_spec)[0]

    def commit_batch(
        self,
        collection: str,
        prepared: list[PreparedDocument],
        progress: Callable[[int], None] | None = None,
        index_spec: str | None = None,
        on_stage: Callable[[str], None] | None = None,
    ) -> list[IngestResult]:
        """Chunk, embed and store prepared documents as one write, recognising duplicates.

        Every chunk of the batch is embedded in one call (the embedder sorts them by
        length, so batches waste little on padding) and the batch is stored by one
        append and one catalog transaction (:meth:`Store.add_documents`), so a
        thousand small files cost one index write, not a thousand.

        ``index_spec`` chooses the index of a collection this call creates (the
        settings' default otherwise); an existing collection keeps its own.
        ``on_stage`` hears "embedding" and then "indexing" as the batch reaches them.

        Returns:
            one result per document, in order; ``seconds`` gives each its own parse and
            chunk time and a share of the batch's embed and write time by its chunks.
        """
        check_collection_name(collection)
        coll = self.store.get_or_create_collection(
            collection, self.embedder.dim, self.embedder.model_name, index_spec=index_spec
        )
        embedder = self._embedder_of(coll)
        with self._claims.hold_all(coll.id, [p.sha256 for p in prepared]):
            doc_ids: dict[str, int] = {}  # sha256 -> id of the document that holds those bytes
            todo, queued = [], set()  # bytes not stored yet, each once
            for p in prepared:
                if p.sha256 in doc_ids or p.sha256 in queued:
                    continue
                existing = self.store.catalog.find_by_sha(coll.id, p.sha256)
                if existing is None:
                    todo.append(p)
                    queued.add(p.sha256)
                else:
                    doc_ids[p.sha256] = existing
            chunk_seconds, chunked = [], []
            chunker = self.chunker_for(coll)
            if on_stage is not None:
                on_stage("embedding")
            for p in todo:
                t = time.perf_counter()
                chunked.append(chunker.chunk(p.parsed))
                chunk_seconds.append(time.perf_counter() - t)
            texts = [
                embedding_input(p.parsed.title, c.heading_path, c.text) for p, cs in zip(todo, chunked) for c in cs
            ]
            t = time.perf_counter()
            # a batch of duplicates only has nothing to embed
            vectors = embedder.embed(texts, progress=progress) if texts else np.zeros((0, embedder.dim), np.float32)
            embed_seconds = time.perf_counter() - t
            if on_stage is not None:
                on_stage("indexing")
            t = time.perf_counter()
            items, at = [], 0
            for p, chunks in zip(todo, chunked):
                items.append(DocumentToAdd(new_document(p), chunks, vectors[at : at + len(chunks)]))
                at += len(chunks)
            added = self.store.add_documents(coll, items, embed_model=embedder.model_name)
            for p, result in zip(todo, added):
                if not result.duplicate:
                    self.store.save_tables(coll, result.id, p.filename, extract_tables(p.parsed, p.filename))
            write_seconds = time.perf_counter() - t
        first = {}  # sha256 -> (chunks, chunk seconds) of the documents this batch stored
        for p, result, chunks, secs in zip(todo, added, chunked, chunk_seconds):
            doc_ids[p.sha256] = result.id
            if not result.duplicate:
                first[p.sha256] = (chunks, secs)
        total = max(len(texts), 1)
        results = []
        for p in prepared:
            hit = first.pop(p.sha256, None)  # the first of repeated bytes is the one stored
            if hit is None:
                results.append(IngestResult(doc_ids[p.sha256], p.filename, collection, True, 0))
                continue
            chunks, secs = hit
            share = len(chunks) / total
            seconds = {"parse": p.parse_seconds, "chunk": secs, "embed": embed_seconds * share,
                       "write": write_seconds * share}  # fmt: skip
            results.append(IngestResult(doc_ids[p.sha256], p.filename, collection, False, len(chunks), seconds))
        return results

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

    def ingest_batch(
        self, collection: str, files: list[tuple[str, bytes, str | None]], index_spec: str | None = None
    ) -> list[IngestResult]:
        """Store several uploads as one job: all are prepared before any is committed.

        Args:
            files: (filename, data, media type or None) per upload.
        Returns:
            one result per file, in order. The job (kind ``ingest``) is recorded in
            the catalog with the stored document ids, or the error that stopped it.
        """
        check_collection_name(collection)
        if index_spec is not None:
            parse_spec(index_spec)
        prepared = [self.prepare(name, data, media) for name, data, media in files]
        job = self.store.catalog.start_job("ingest", None, {"collection": collection, "files": [f[0] for f in files]})
        try:
            results = self.commit_batch(collection, prepared, index_spec=index_spec)
        except Exception as exc:
            self.store.catalog.finish_job(job, "failed", error=str(exc))
            raise
        detail = {
            "collection": collection,
            "document_ids": [r.document_id for r in results],
            "duplicates": [r.document_id for r in results if r.duplicate],
        }
        self.store.catalog.finish_job(job, "done", detail)
        return results

    def ingest_files(
        self,
        collection: str,
        files: Iterable[tuple[str, Callable[[], bytes]]],
        batch: int = 16,
        progress: Callable[[int], None] | None = None,
        index_spec: str | None = None,
    ) -> Iterator[tuple[str, IngestResult | Exception]]:
        """Ingest many files, ``batch`` at a time, each batch one write (:meth:`commit_batch`).

        The next batch is read and parsed on a worker thread while this one is
        chunked, embedded and stored (the embedding runs in torch, outside the GIL),
        so parsing costs no wall time beside a long embedding.

        Args:
            files: (filename, a function that reads its bytes) per file.
        Yields:
            (filename, its result, or the error that kept it out) per file, in order. A file
            that cannot be read or parsed is skipped; an error storing a batch fails its files.
        """
        check_collection_name(collection)
        groups = iter(lambda it=iter(files): list(itertools.islice(it, batch)), [])

        def prepare_group(group):
            out = []
            for name, read in group:
                try:
                    out.append((name, self.prepare(name, read())))
                except (RAGError, OSError) as exc:
                    out.append((name, exc))
            return out

        with ThreadPoolExecutor(1, thread_name_prefix="rag-parse") as pool:
            pending = pool.submit(prepare_group, next(groups, []))
            while prepared := pending.result():
                pending = pool.submit(prepare_group, next(groups, []))
                good = [p for _, p in prepared if isinstance(p, PreparedDocument)]
                try:
                    stored = iter(self.commit_batch(collection, good, progress, index_spec) if good else [])
                except RAGError as exc:
                    stored = iter([exc] * len(good))
                for name, p in prepared:
                    yield name, next(stored) if isinstance(p, PreparedDocument) else p

    def ingest(
        self,
        collection: str,
        filename: str,
        data: bytes,
        media_type: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> IngestResult:
        """Prepare and commit one file."""
        check_collection_name(collection)
        return self.commit(collection, self.prepare(filename, data, media_type), progress)
