"""Ingest: bytes of an uploaded file -> parsed text -> chunks -> vectors -> store.

Uploads are handled in two phases: ``prepare`` checks (size, type,
emptiness) and parses, ``commit`` chunks, embeds and stores. A batch prepares
every file before committing any, so one bad file rejects the batch before
anything is stored and before a collection is created.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from indexes import parse_spec
from indexes.errors import InvalidInputError, PayloadTooLargeError
from ingest.chunk import Chunker
from ingest.embed import Embedder
from ingest.parse import detect_media_type, parse_bytes
from ingest.parse.types import ParsedDocument
from ingest.tables import extract_tables
from rag.store import Store, check_collection_name
from rag.store.store import NewDocument

EMBED_MODEL = "all-MiniLM-L6-v2"


@dataclass(frozen=True)
class IngestResult:
    document_id: int
    filename: str
    collection: str
    duplicate: bool  # True when the same bytes were already in the collection
    n_chunks: int
    seconds: dict = field(default_factory=dict)  # parse, chunk, embed, write


@dataclass(frozen=True)
class PreparedDocument:
    """An upload that passed every check and was parsed, not yet stored."""

    filename: str
    sha256: str
    size_bytes: int
    parsed: ParsedDocument
    parse_seconds: float


def size_limit_message(filename: str, size: int | None, limit: int) -> str:
    """Why ``filename`` is refused: it is larger than ``limit`` bytes (``size`` when known).

    Sizes are in MiB, the unit of RAG_MAX_UPLOAD_MB, so a 50 MB setting reads back as 50 MB.
    """
    mb = 1024 * 1024
    what = f"{filename} is {size / mb:.1f} MB" if size is not None else f"{filename} is larger than the limit"
    return f"{what}; the limit is {limit / mb:g} MB ({limit} bytes): split the file or raise RAG_MAX_UPLOAD_MB"


def embedding_input(title: str | None, heading_path: tuple[str, ...], text: str) -> str:
    """Text embedded for a chunk: its document title and heading path give context to short passages."""
    context = " > ".join(p for p in ((title or "").strip(), *heading_path) if p)
    return f"{context}\n\n{text}" if context else text


class IngestPipeline:
    def __init__(self, store: Store, embedder: Embedder, chunker: Chunker, max_upload_bytes: int) -> None:
        self.store = store
        self.embedder = embedder
        self.chunker = chunker
        self.max_upload_bytes = max_upload_bytes
        self._claims: dict[tuple[int, str], tuple[threading.Lock, int]] = {}
        self._claims_lock = threading.Lock()

    def check(self, filename: str, data: bytes, media_type: str | None = None) -> str:
        """Validate an upload without storing it; returns its media type."""
        if len(data) > self.max_upload_bytes:
            raise PayloadTooLargeError(size_limit_message(filename, len(data), self.max_upload_bytes))
        media = detect_media_type(filename, media_type)
        if not data.strip():
            raise InvalidInputError(f"{filename} is empty; upload a file with content")
        return media

    def prepare(self, filename: str, data: bytes, media_type: str | None = None) -> PreparedDocument:
        """Validate and parse one upload; raises a 4xx-class error before anything is stored."""
        media = self.check(filename, data, media_type)
        t0 = time.perf_counter()
        doc = parse_bytes(data, filename, media)
        return PreparedDocument(filename, hashlib.sha256(data).hexdigest(), len(data), doc, time.perf_counter() - t0)

    def commit(
        self,
        collection: str,
        prepared: PreparedDocument,
        progress: Callable[[int], None] | None = None,
        index_spec: str | None = None,
    ) -> IngestResult:
        """Chunk, embed and store a prepared document, or recognise it as a duplicate.

        ``index_spec`` chooses the index of a collection this call creates (the
        settings' default otherwise); an existing collection keeps its own.
        """
        check_collection_name(collection)
        coll = self.store.get_or_create_collection(collection, self.embedder.dim, EMBED_MODEL, index_spec=index_spec)
        with self._claim(coll.id, prepared.sha256):
            existing = self.store.catalog.find_by_sha(coll.id, prepared.sha256)
            if existing is not None:
                return IngestResult(existing, prepared.filename, collection, True, 0)
            doc = prepared.parsed
            t1 = time.perf_counter()
            chunks = self.chunker.chunk(doc)
            t2 = time.perf_counter()
            vectors = self.embedder.embed(
                [embedding_input(doc.title, c.heading_path, c.text) for c in chunks], progress=progress
            )
            t3 = time.perf_counter()
            added = self.store.add_document(
                coll,
                NewDocument(
                    filename=prepared.filename,
                    media_type=doc.media_type,
                    sha256=prepared.sha256,
                    size_bytes=prepared.size_bytes,
                    title=doc.title,
                    n_pages=doc.n_pages,
                    text=doc.text,
                ),
                chunks,
                vectors,
            )
            if not added.duplicate:
                self.store.save_tables(coll, added.id, prepared.filename, extract_tables(doc, prepared.filename))
            t4 = time.perf_counter()
        if added.duplicate:
            return IngestResult(added.id, prepared.filename, collection, True, 0)
        seconds = {"parse": prepared.parse_seconds, "chunk": t2 - t1, "embed": t3 - t2, "write": t4 - t3}
        return IngestResult(added.id, prepared.filename, collection, False, len(chunks), seconds)

    @contextmanager
    def _claim(self, collection_id: int, sha256: str) -> Iterator[None]:
        """Hold the right to store these bytes in this collection.

        A second upload of the same bytes waits here while the first is embedded,
        then finds it stored and answers "duplicate" without embedding it again.
        """
        key = (collection_id, sha256)
        with self._claims_lock:
            lock, users = self._claims.get(key, (threading.Lock(), 0))
            self._claims[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._claims_lock:
                lock, users = self._claims[key]
                if users == 1:
                    del self._claims[key]
                else:
                    self._claims[key] = (lock, users - 1)

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
            results = [self.commit(collection, p, index_spec=index_spec) for p in prepared]
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
