"""What an ingest takes and gives: a prepared (checked, parsed) upload, its embedded chunks, the result of
storing one, and the text embedded for a chunk."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ingest.chunk import Chunk
from ingest.parse.types import ParsedDocument
from rag.store.records import NewDocument


@dataclass(frozen=True)
class SavedFile:
    """An upload saved on disk: where its bytes are, and the name and media type it was uploaded with.

    ``checked``: its bytes passed :func:`ingest.check.check_file` when they entered (a job's files) and
    ``media_type`` is the type that check chose, so nothing checks them again.
    """

    path: Path
    filename: str
    media_type: str | None = None
    checked: bool = False


@dataclass(frozen=True)
class IngestTimings:
    """Seconds one stored document took at each step; embed and write are its share of its batch's, by chunks."""

    parse: float = 0.0
    chunk: float = 0.0
    embed: float = 0.0
    write: float = 0.0


@dataclass(frozen=True)
class SkippedAttachment:
    """An attachment that was not stored (a type no parser reads, an image without OCR...), and why."""

    filename: str  # "MESSAGE/ATTACHMENT"
    reason: str


@dataclass(frozen=True)
class IngestResult:
    document_id: int
    filename: str
    collection: str
    duplicate: bool  # True when the same bytes were already in the collection
    n_chunks: int
    seconds: IngestTimings = field(default_factory=IngestTimings)
    # a message's attachments: each stored as its own document (with its own attachments, if any), or skipped
    attachments: tuple[IngestResult, ...] = ()
    skipped: tuple[SkippedAttachment, ...] = ()


@dataclass(frozen=True)
class PreparedDocument:
    """An upload that passed every check and was parsed, not yet stored.

    Attributes:
        attachments: a message's attachments, checked and parsed (their ``filename`` "MESSAGE/ATTACHMENT"),
            stored as documents of their own once the message is.
        skipped: its attachments that cannot be stored, and why.
        parent_id: the stored document this one is attached to (set when its message is stored).
    """

    filename: str
    sha256: str
    size_bytes: int
    parsed: ParsedDocument
    parse_seconds: float
    attachments: tuple[PreparedDocument, ...] = ()
    skipped: tuple[SkippedAttachment, ...] = ()
    parent_id: int | None = None


@dataclass(frozen=True)
class EmbeddedDocument:
    """A prepared document chunked and embedded, ready to store (:meth:`IngestPipeline.store_batch`).

    Attributes:
        vectors: float32 (len(chunks), dim), one row per chunk.
        embed_seconds: its share of its embedding call's time, by chunks.
        stored_as: the document that already holds these bytes (found before embedding): nothing is stored.
    """

    prepared: PreparedDocument
    chunks: list[Chunk]
    vectors: np.ndarray
    chunk_seconds: float = 0.0
    embed_seconds: float = 0.0
    stored_as: int | None = None


@dataclass(frozen=True)
class EmbedProgress:
    """How far the embedding of one write batch got: once its chunks are counted (``embedded`` 0), then after
    each of the embedder's batches."""

    chunks: int  # chunks of this write batch, to embed
    embedded: int  # of them, embedded so far


Progress = Callable[[EmbedProgress], None]
# What a parse reports as it goes (OCR, a page at a time): (done, total, unit), e.g. (3, 12, "page").
ParseProgress = Callable[[int, int, str], None]


def embedding_input(title: str | None, heading_path: tuple[str, ...], text: str) -> str:
    """Text embedded for a chunk: its document title and heading path give context to short passages."""
    context = " > ".join(p for p in ((title or "").strip(), *heading_path) if p)
    return f"{context}\n\n{text}" if context else text


def new_document(prepared: PreparedDocument) -> NewDocument:
    """The store's record of a prepared upload."""
    doc = prepared.parsed
    return NewDocument(
        filename=prepared.filename,
        media_type=doc.media_type,
        sha256=prepared.sha256,
        size_bytes=prepared.size_bytes,
        title=doc.title,
        n_pages=doc.n_pages,
        text=doc.text,
        parent_id=prepared.parent_id,
    )
