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
        location: where the span is in the file, in words a reader follows,
            for formats whose unit is not a page: "slide 7", "sheet Revenue",
            "chapter 3"; None where ``page`` says it (PDF) or there is none.
        ocr_confidence: the mean word confidence (0-100) Tesseract gave the
            page or image the span was read from by OCR; None for text that
            came from the file's own text layer.
    """

    start: int
    end: int
    page: int | None = None
    heading_path: tuple[str, ...] = ()
    location: str | None = None
    ocr_confidence: float | None = None


@dataclass(frozen=True)
class TableSpan:
    """A table ``text[start:end]`` of the extracted text and its header rows ``text[start:header_end]``.

    The chunker repeats the header in every chunk that holds rows of the table
    but not the header itself. ``header_end == start`` where the table has no
    header the parser could identify.

    Attributes:
        start, end: character offsets into ``ParsedDocument.text`` of the
            table's first and past its last character (no surrounding whitespace).
        header_end: offset just past the header rows (no trailing whitespace);
            ``start <= header_end <= end``.
    """

    start: int
    end: int
    header_end: int
    name: str | None = None  # the table's own name where the format has one (a spreadsheet's sheet)


@dataclass(frozen=True)
class Attachment:
    """A file carried inside another (an e-mail's attachment), ingested as its own document.

    Attributes:
        filename: its name as the container gives it.
        data: its bytes.
        media_type: the type the container declares, if any.
    """

    filename: str
    data: bytes
    media_type: str | None = None


@dataclass
class ParsedDocument:
    """Extracted text of one document.

    ``sections`` are in document order, do not overlap, and cover every
    character of ``text`` that belongs to the content (separators such as the
    blank lines between pages may fall between sections). Chunks never cross a
    section boundary, so a chunk has exactly one page and one heading path.

    ``tables`` are in document order, do not overlap and each lies within one
    section. Every parser that finds tables fills it (CSV, Markdown, HTML, the
    office formats, and the HTML bodies of e-mails and e-books); plain text has
    no table syntax and PDF text extraction yields positioned lines with no row
    or header structure, so those parsers leave it empty.
    """

    text: str
    sections: list[Section]
    media_type: str
    title: str | None = None
    n_pages: int | None = None
    metadata: dict = field(default_factory=dict)
    tables: list[TableSpan] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
