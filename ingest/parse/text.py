"""Plain-text parser (``.txt``).

The text is kept as decoded (see ``common.decode_text``): plain text has no
markup to remove and no headings to trust, so the whole file is one section.
The one structure plain text does have is the form feed, which print-oriented
files (RFCs, man pages, ``pdftotext`` output) put between pages: when present,
each page becomes a section with its 1-based page number.
"""

from __future__ import annotations

from core.errors import InvalidInputError

from .builder import TextBuilder
from .common import decode_text, reject_binary, trimmed_span
from .types import ParsedDocument, Section

MEDIA_TYPE = "text/plain"


def parse(data: bytes, filename: str) -> ParsedDocument:
    """Parse a plain-text file.

    Args:
        data: the raw bytes, in any encoding ``decode_text`` handles.
        filename: used in error messages.

    Returns:
        A document with one section, or one section per form-feed page
        (``n_pages`` set) when the file contains form feeds.

    Raises:
        InvalidInputError: the file holds only whitespace.
        DocumentParseError: the bytes are binary, not text.
    """
    reject_binary(data, filename, "plain text")
    text = decode_text(data)
    if not text.strip():
        raise InvalidInputError(f"{filename} is empty; upload a file that contains text")
    if "\f" in text:
        return _parse_pages(text)
    start, end = trimmed_span(text, 0, len(text))
    return ParsedDocument(text=text, sections=[Section(start, end)], media_type=MEDIA_TYPE)


def _parse_pages(text: str) -> ParsedDocument:
    """One section per form-feed separated page; blank pages are skipped but counted."""
    pages = text.split("\f")
    while len(pages) > 1 and not pages[-1].strip():  # a trailing form feed ends a page, not starts one
        pages.pop()
    builder = TextBuilder()
    for number, page in enumerate(pages, start=1):
        builder.add(page, page=number)
    joined, sections, _ = builder.build()
    return ParsedDocument(text=joined, sections=sections, media_type=MEDIA_TYPE, n_pages=len(pages))
