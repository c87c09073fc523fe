"""How the CLI prints passages: a search hit as JSON, and where a passage comes from in one line.

Used by ``rag search`` and ``rag ask``, locally and through a running server: each function takes a
pipeline object (``Citation``, ``StoredChunk``, a hit) or its JSON form from the server.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag.pipeline.citations import Citation
    from rag.store import StoredChunk


# The keys of hit_json, in its order: StoredChunk's fields, then each stage's score.
HIT_KEYS = (
    "chunk_id", "document_id", "filename", "title", "ord", "text", "page", "char_start", "char_end",
    "heading_path", "score", "prefix_chars", "location", "ocr_confidence", "dense_score", "bm25_score",
    "rerank_score",
)  # fmt: skip


def hit_json(h) -> dict:
    """One search hit as JSON: the chunk's fields, its final score and each stage's."""
    return dict(
        dataclasses.asdict(h.chunk),
        heading_path=list(h.chunk.heading_path),
        score=h.score,
        dense_score=h.dense,
        bm25_score=h.bm25,
        rerank_score=h.rerank,
    )


def ordered(values: dict, keys: tuple[str, ...]) -> dict:
    """``values`` with ``keys`` first, in that order (a server's JSON printed as the local path prints it)."""
    return {**{k: values[k] for k in keys if k in values}, **values}


def _field(source, name: str):
    """A field of a pipeline object (Citation, StoredChunk) or of its JSON form (a dict from the server)."""
    return source[name] if isinstance(source, Mapping) else getattr(source, name)


def passage_source(source: Citation | StoredChunk | Mapping) -> str:
    """Where a passage comes from, e.g. ``notes.md (document 7), page 3, chars 120-480``.

    The document id tells apart files that share a name; pages are left out for types without them, and a
    location says where instead in those that have one (``deck.pptx (document 9), slide 7, ...``). Text read
    by OCR ends with ``read by OCR (confidence 72%)``. ``source`` is a pipeline object or its JSON form (a
    search hit, citation or passage).
    """
    filename, page = _field(source, "filename"), _field(source, "page")
    if _field(source, "document_id") < 0:
        return filename  # a tool's result with no source document ("calculator tool")
    location = _optional(source, "location")
    where = f", {location}" if location else f", page {page}" if page is not None else ""
    span = f"chars {_field(source, 'char_start')}-{_field(source, 'char_end')}"
    return f"{filename} (document {_field(source, 'document_id')}){where}, {span}{ocr_note(source)}"


def _optional(source, name: str):
    """A field that older servers' JSON (and some records) leave out: None there."""
    return source.get(name) if isinstance(source, Mapping) else getattr(source, name)


def ocr_note(source) -> str:
    """ ", read by OCR (confidence 72%)" for a passage read by OCR; "" for a file's own text."""
    confidence = _optional(source, "ocr_confidence")
    return "" if confidence is None else f", read by OCR (confidence {confidence:.0f}%)"


def citation_line(citation: Citation | Mapping) -> str:
    """One line of ``rag ask``'s sources, e.g. ``[1] notes.md (document 7), page 3, chars 120-480``."""
    return f"[{_field(citation, 'number')}] {passage_source(citation)}"
