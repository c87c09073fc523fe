"""The records the store takes and gives: a new document, what adding it did, and a chunk found by search."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StoredChunk:
    """A chunk as returned by search, with its document's identity and its score."""

    chunk_id: int
    document_id: int
    filename: str
    title: str | None
    ord: int
    text: str
    page: int | None
    char_start: int
    char_end: int
    heading_path: tuple[str, ...]
    score: float
    # ``text`` may begin with a repeated table header (ingest.chunk); the document's own
    # characters [char_start, char_end) are ``text[prefix_chars:]``.
    prefix_chars: int = 0


@dataclass(frozen=True)
class NewDocument:
    """A parsed document about to be stored (its id and chunk count are assigned by the store)."""

    filename: str
    media_type: str
    sha256: str
    size_bytes: int
    title: str | None
    n_pages: int | None
    text: str


@dataclass(frozen=True)
class DocumentToAdd:
    """A document with its chunks (``ingest.chunk.Chunk``, in order) and their float32 (n, dim) vectors."""

    doc: NewDocument
    chunks: list
    vectors: np.ndarray


@dataclass(frozen=True)
class AddedDocument:
    """What :meth:`Store.add_documents` did with one document: its id, and whether the bytes were stored already."""

    id: int
    duplicate: bool


def stored_chunk(row: dict, score: float) -> StoredChunk:
    """A catalog row (from ``Catalog.chunks_by_id``) as a :class:`StoredChunk` with ``score``."""
    return StoredChunk(
        chunk_id=row["id"],
        document_id=row["document_id"],
        filename=row["filename"],
        title=row["title"],
        ord=row["ord"],
        text=row["text"],
        page=row["page"],
        char_start=row["char_start"],
        char_end=row["char_end"],
        heading_path=tuple(row["heading_path"] or ()),
        score=score,
        prefix_chars=row.get("prefix_chars") or 0,
    )
