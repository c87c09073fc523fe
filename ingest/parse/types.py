"""What every parser returns: the document's extracted text plus the spans that structure it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Section:
    """A span ``text[start:end]`` of the extracted text with its location.

    Attributes:
        start, end: character offsets into ``ParsedDocument.text``.
        page: 1-based page number (PDF), or None for formats without pages.
        heading_path: titles of the enclosing headings, outermost first
            (e.g. ("Install", "Linux")); empty where the format has none.
    """

    start: int
    end: int
    page: int | None = None
    heading_path: tuple[str, ...] = ()


@dataclass
class ParsedDocument:
    """Extracted text of one document.

    ``sections`` are in document order, do not overlap, and cover every
    character of ``text`` that belongs to the content (separators such as the
    blank lines between pages may fall between sections). Chunks never cross a
    section boundary, so a chunk has exactly one page and one heading path.
    """

    text: str
    sections: list[Section]
    media_type: str
    title: str | None = None
    n_pages: int | None = None
    metadata: dict = field(default_factory=dict)
