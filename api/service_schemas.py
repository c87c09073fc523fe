"""Request and response shapes of collections, jobs and the document lifecycle (msgspec Structs)."""

from __future__ import annotations

import msgspec

from api.schemas import AttachmentOut, DocumentInfo


class CollectionIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: str
    index_spec: str | None = None  # e.g. "HNSW32", "Flat", "IVF64,PQ16x8" (default: the server's)
    chunk_tokens: int | None = None  # chunk window in embedding-model tokens (default: the server's)
    chunk_overlap: int | None = None  # tokens shared by consecutive chunks (default: the server's)
    shards: int = 1  # > 1: the vectors are split over this many Ray actors (needs a server with RAG_RAY_ADDRESS)


class CollectionOut(msgspec.Struct):
    name: str
    index_spec: str
    metric: str
    embed_model: str
    dim: int
    chunk_tokens: int  # the effective settings (the server's where the collection has none)
    chunk_overlap: int
    shards: int  # 1: one local store; more: Ray shard actors
    documents: int
    chunks: int
    bytes_on_disk: int  # vectors, indexes, BM25 and tables of this collection
    created_at: str


class CollectionList(msgspec.Struct):
    collections: list[CollectionOut]


class CollectionDeleted(msgspec.Struct):
    name: str
    deleted_documents: int


class CompactionOut(msgspec.Struct):
    name: str
    bytes_before: int
    bytes_after: int
    merges: int
    lexical_compacted: bool


class FileOut(msgspec.Struct):
    filename: str
    size_bytes: int
    media_type: str | None
    state: str  # queued | parsing | embedding | indexing | done | duplicate | failed
    document_id: int | None
    n_chunks: int | None
    error: str | None
    attachments: list[AttachmentOut] = []  # a message's attachments: stored as documents of their own, or skipped


class ReadingOut(msgspec.Struct):
    """How far the slow parse of a file got (OCR, a page at a time), as its parser reports it."""

    filename: str
    done: int
    total: int
    unit: str  # "page": pages read by OCR


class ProgressOut(msgspec.Struct):
    files_done: int
    files_total: int
    chunks_embedded: int  # advances after each of the embedder's batches, not only per file
    chunks_total: int | None  # chunks of the files chunked so far (null: none yet)
    eta_seconds: float | None  # estimated seconds left, from the recent embedding speed (null: not known yet)
    files_searchable: int  # files whose chunks are stored and searchable now
    reading: ReadingOut | None = None  # a file being read by OCR: pages done of its total (null: none now)


class JobOut(msgspec.Struct):
    id: int
    kind: str  # ingest | benchmark
    status: str  # queued | parsing | embedding | indexing | running | done | failed
    collection: str | None
    created_at: str
    finished_at: str | None
    error: str | None
    progress: ProgressOut
    files: list[FileOut]
    request: dict
    result: dict | None


class JobList(msgspec.Struct):
    jobs: list[JobOut]


class UploadAccepted(msgspec.Struct):
    """202: the files are checked and saved; the job parses, embeds and indexes them."""

    job_id: int
    status: str
    collection: str
    status_url: str
    events_url: str
    files: list[FileOut]


class ChunkOut(msgspec.Struct):
    id: int
    ord: int
    text: str
    page: int | None
    char_start: int
    char_end: int
    heading_path: list[str]
    n_tokens: int
    location: str | None = None  # "slide 7", "sheet Revenue", "chapter 3" where the format has no pages
    ocr_confidence: float | None = None  # 0-100: the text was read by OCR with this mean word confidence


class DocumentDetail(DocumentInfo, kw_only=True):
    """A document's row (as listed) with its chunks."""

    chunks: list[ChunkOut]
    text: str | None = None  # the parsed text, with ?text=true (chunks' char offsets point into it)


class DocumentDeleted(msgspec.Struct):
    collection: str
    document_id: int
    deleted_chunks: int  # the document's chunks and its attachments'
    deleted_attachments: list[int] = []  # the documents attached to it (an e-mail's files), deleted with it
