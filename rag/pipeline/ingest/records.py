"""What an ingest takes and gives: a prepared (checked, parsed) upload, the result of storing one,
and the text embedded for a chunk."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ingest.parse.types import ParsedDocument
from rag.store.records import NewDocument


@dataclass(frozen=True)
class SavedFile:
    """An upload saved on disk: where its bytes are, and the name and media type it was uploaded with."""

    path: Path
    filename: str
    media_type: str | None = None


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
    )
