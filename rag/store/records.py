"""The records the store takes and gives: a new document, what adding it did, and a chunk found by search."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from rag.store.catalog import CHUNK_SCHEMA


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
    location: str | None = None  # "slide 7", "sheet Revenue", "chapter 3"; None where ``page`` says it
    ocr_confidence: float | None = None  # 0-100 where the text was read by OCR; None: the file's own text


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
    parent_id: int | None = None  # the stored document (an e-mail) this one is attached to


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
        location=row.get("location"),
        ocr_confidence=row.get("ocr_confidence"),
    )


def catalog_rows(
    collection_id: int, docs: list[DocumentToAdd], doc_ids: list[int], chunk_ids: np.ndarray
) -> tuple[list[dict], pa.Table]:
    """The catalog rows of new documents (one dict each) and of their chunks (one table, ``chunk_ids`` in order)."""
    rows, columns = [], {name: [] for name in CHUNK_SCHEMA.names}
    at = 0
    for item, doc_id in zip(docs, doc_ids):
        chunks = item.chunks
        rows.append(dict(dataclasses.asdict(item.doc), id=doc_id, collection_id=collection_id, n_chunks=len(chunks)))
        columns["id"] += chunk_ids[at : at + len(chunks)].tolist()
        at += len(chunks)
        columns["document_id"] += [doc_id] * len(chunks)
        columns["collection_id"] += [collection_id] * len(chunks)
        columns["ord"] += [c.ord for c in chunks]
        columns["text"] += [c.text for c in chunks]
        columns["page"] += [c.page for c in chunks]
        columns["char_start"] += [c.start for c in chunks]
        columns["char_end"] += [c.end for c in chunks]
        columns["heading_path"] += [list(c.heading_path) for c in chunks]
        columns["n_tokens"] += [c.n_tokens for c in chunks]
        columns["prefix_chars"] += [c.prefix_chars for c in chunks]
        columns["location"] += [c.location for c in chunks]
        columns["ocr_confidence"] += [c.ocr_confidence for c in chunks]
    return rows, pa.table(columns, schema=CHUNK_SCHEMA)
