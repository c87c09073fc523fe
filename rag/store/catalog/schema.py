"""The catalog's tables and the row types that leave it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa

from core.errors import InvalidInputError

SCHEMA_VERSION = 1
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

_SCHEMA = """
CREATE SEQUENCE IF NOT EXISTS collection_ids START 1;
CREATE SEQUENCE IF NOT EXISTS document_ids START 1;
CREATE SEQUENCE IF NOT EXISTS chunk_ids START 1;
CREATE SEQUENCE IF NOT EXISTS job_ids START 1;
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS collections (
    id BIGINT PRIMARY KEY, name VARCHAR UNIQUE NOT NULL, index_spec VARCHAR NOT NULL,
    metric VARCHAR NOT NULL, dim INTEGER NOT NULL, embed_model VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id BIGINT PRIMARY KEY, collection_id BIGINT NOT NULL, filename VARCHAR NOT NULL,
    media_type VARCHAR NOT NULL, sha256 VARCHAR NOT NULL, size_bytes BIGINT NOT NULL,
    title VARCHAR, n_pages INTEGER, n_chunks INTEGER NOT NULL, text VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL, UNIQUE (collection_id, sha256));
CREATE TABLE IF NOT EXISTS chunks (
    id BIGINT PRIMARY KEY, document_id BIGINT NOT NULL, collection_id BIGINT NOT NULL,
    ord INTEGER NOT NULL, text VARCHAR NOT NULL, page INTEGER, char_start INTEGER NOT NULL,
    char_end INTEGER NOT NULL, heading_path VARCHAR[], n_tokens INTEGER NOT NULL);
-- Added after the first release (catalogs created then get it here): the length of a
-- repeated table header that starts a chunk's text, outside [char_start, char_end).
ALTER TABLE chunks ADD COLUMN IF NOT EXISTS prefix_chars INTEGER DEFAULT 0;
-- Per-collection chunking (NULL: the server's settings), added with the collections API.
ALTER TABLE collections ADD COLUMN IF NOT EXISTS chunk_tokens INTEGER;
ALTER TABLE collections ADD COLUMN IF NOT EXISTS chunk_overlap INTEGER;
-- Sharded collections (Ray, rag.distributed): how many shards hold the vectors; 1 = one local store.
ALTER TABLE collections ADD COLUMN IF NOT EXISTS shards INTEGER DEFAULT 1;
-- Where a chunk is in a file without pages ("slide 7", "sheet Revenue", "chapter 3") and, for text read by
-- OCR, its page's mean word confidence (0-100); a document's parent: the message it was attached to.
ALTER TABLE chunks ADD COLUMN IF NOT EXISTS location VARCHAR;
ALTER TABLE chunks ADD COLUMN IF NOT EXISTS ocr_confidence FLOAT;
ALTER TABLE documents ADD COLUMN IF NOT EXISTS parent_id BIGINT;
-- API keys of collections (only a hash of each key is kept), added with access control.
CREATE SEQUENCE IF NOT EXISTS key_ids START 1;
CREATE TABLE IF NOT EXISTS api_keys (
    id BIGINT PRIMARY KEY, collection_id BIGINT NOT NULL, scope VARCHAR NOT NULL, hash VARCHAR UNIQUE NOT NULL,
    prefix VARCHAR NOT NULL, created_at TIMESTAMPTZ NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id BIGINT PRIMARY KEY, kind VARCHAR NOT NULL, collection_id BIGINT, status VARCHAR NOT NULL,
    detail VARCHAR, error VARCHAR, created_at TIMESTAMPTZ NOT NULL, finished_at TIMESTAMPTZ);
"""

CHUNK_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("document_id", pa.int64()),
        ("collection_id", pa.int64()),
        ("ord", pa.int32()),
        ("text", pa.string()),
        ("page", pa.int32()),
        ("char_start", pa.int32()),
        ("char_end", pa.int32()),
        ("heading_path", pa.list_(pa.string())),
        ("n_tokens", pa.int32()),
        ("prefix_chars", pa.int32()),
        ("location", pa.string()),
        ("ocr_confidence", pa.float32()),
    ]
)


@dataclass(frozen=True)
class Collection:
    id: int
    name: str
    index_spec: str
    metric: str
    dim: int
    embed_model: str
    chunk_tokens: int | None = None  # None: the server's chunking settings
    chunk_overlap: int | None = None
    shards: int = 1  # > 1: the vectors are split over this many Ray shard actors (rag.distributed)


COLLECTION_COLUMNS = "id, name, index_spec, metric, dim, embed_model, chunk_tokens, chunk_overlap, shards"


@dataclass(frozen=True)
class DocumentRecord:
    """A document's row as listed: what it is, without its text or chunks."""

    id: int
    filename: str
    media_type: str
    sha256: str
    size_bytes: int
    title: str | None
    n_pages: int | None
    n_chunks: int
    created_at: datetime
    parent_id: int | None = None  # the document (an e-mail) this one was attached to; None: an upload


@dataclass(frozen=True)
class ChunkRecord:
    """A chunk's row: its text and where it lies in its document's parsed text."""

    id: int
    ord: int  # its position in the document
    text: str
    page: int | None
    char_start: int
    char_end: int
    heading_path: tuple[str, ...]  # () where the document has no headings above it
    n_tokens: int
    # ``text`` may begin with a repeated table header (ingest.chunk) outside [char_start, char_end)
    prefix_chars: int = 0
    location: str | None = None  # "slide 7", "sheet Revenue", "chapter 3"; None where ``page`` says it
    ocr_confidence: float | None = None  # 0-100 where the text was read by OCR; None: the file's own text

    @classmethod
    def of_row(cls, row: dict) -> ChunkRecord:
        """A row of ``CHUNK_COLUMNS``, whose list and count columns may be NULL."""
        nullable = {"heading_path": tuple(row["heading_path"] or ()), "prefix_chars": row["prefix_chars"] or 0}
        return cls(**{**row, **nullable})


@dataclass(frozen=True)
class DocumentWithChunks:
    """A document with its chunks by position, and its parsed text where it was asked for."""

    document: DocumentRecord
    chunks: tuple[ChunkRecord, ...]
    text: str | None = None  # the text the chunks' offsets point into; None: not read


@dataclass(frozen=True)
class KeyRecord:
    """An API key as listed: never the key, only the first characters that tell keys apart."""

    id: int
    scope: str  # "read" | "write"
    prefix: str
    created_at: datetime


# Job states. An ingest job moves queued -> parsing -> embedding -> indexing -> done | failed;
# a benchmark is running until done | failed. Only done and failed are final.
JOB_STATES = ("queued", "parsing", "embedding", "indexing", "running", "done", "failed")
FINAL_STATES = ("done", "failed")


def check_collection_name(name: str) -> str:
    if not _NAME.fullmatch(name or ""):
        raise InvalidInputError(
            f"invalid collection name {name!r}: use 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return name


def now() -> datetime:
    return datetime.now(UTC)
