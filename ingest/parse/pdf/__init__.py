"""PDF parser (``.pdf``): the text layer per page with pypdf, OCR where a page has none, split at outline headings.

A page keeps its text layer (``text``); a page that draws an image and has
fewer than ``MIN_PAGE_CHARS`` letters and digits (a scan, perhaps with a stray
label) is rendered and read by Tesseract instead (``ocr_pages``), so a mixed
PDF gets OCR only where it needs it. The page texts are then joined, line-end
hyphenation undone and the pages split at outline headings (``structure``).

Sections: one per page (``Section.page`` is 1-based), split further where an
outline (bookmark) heading starts on that page and its title is found at the
start of a line; the heading path comes from the outline's nesting. A section
of a page read by OCR carries the page's mean word confidence
(``Section.ocr_confidence``).

Bounds: at most ``ocr.MAX_PAGES`` pages of a PDF are read by OCR; a PDF with
more pages that need it is refused before any is read (422: split it), since
half a scanned book would answer questions about the other half with silence.
Without Tesseract, a PDF with no text layer at all is refused saying what to
install; a mixed PDF is ingested from its text layer, its scanned pages left
empty (logged, and listed in ``pages_without_text``).
"""

from __future__ import annotations

import dataclasses

from ingest.errors import DocumentParseError, NoTextError

from .. import ocr
from ..builder import TextBuilder
from ..types import ParsedDocument, Section
from .ocr_pages import read_pages
from .structure import dehyphenate, split_at_headings
from .text import PdfText, log, read

__all__ = ["MEDIA_TYPE", "MIN_PAGE_CHARS", "parse"]

MEDIA_TYPE = "application/pdf"
# A page that draws an image and has fewer letters and digits than this is read by OCR: it is a scan
# (perhaps with a stray "Background" label), and the OCR of the rendered page reads that label too.
MIN_PAGE_CHARS = 40


def parse(data: bytes, filename: str, password: str | None = None) -> ParsedDocument:
    """Parse a PDF into per-page sections, reading pages without a text layer by OCR.

    Args:
        data: the raw bytes of the PDF.
        filename: used in error messages.
        password: opens an encrypted PDF (the empty password is always tried).

    Returns:
        A document with ``n_pages`` set, pages joined by a blank line, and in ``metadata``:
        ``pages_without_text`` (1-based pages that have none), ``ocr_pages`` (pages read by OCR) and
        ``low_confidence_pages`` (those of them read with a mean word confidence under
        ``ocr.LOW_CONFIDENCE``: ingested, but flagged).

    Raises:
        EncryptedDocumentError: a password is needed (``WrongPasswordError``: the one given is wrong).
        NoTextError: no page has text, and none is a scan either.
        MissingToolError: only OCR could read it, and Tesseract is not installed.
        DocumentParseError: the bytes are not a readable PDF, or more than ``ocr.MAX_PAGES`` pages need OCR.
        MissingDependencyError: the PDF uses AES and ``cryptography`` is missing.
    """
    if b"%PDF-" not in data[:1024]:
        raise DocumentParseError(f"{filename} is not a PDF (no %PDF header); check the file and its extension")
    pages_seen = _ScanCounter(filename)
    layer = read(data, filename, password, pages_seen)
    counts, scanned = pages_seen.counts, pages_seen.scanned
    _check_text(filename, layer, counts, scanned)
    if scanned and not ocr.available():
        log.warning("%s: pages %s look scanned; install tesseract-ocr to read them", filename, _pages(scanned))
    read_by_ocr = read_pages(data, filename, password, scanned) if scanned and ocr.available() else {}
    pages = [read_by_ocr[i].text if i in read_by_ocr else page for i, page in enumerate(layer.pages)]
    text, sections = _build(dehyphenate(pages), layer.outline)
    if not text:
        raise NoTextError(
            f"{filename} has no text layer, and OCR found no words on its {len(scanned)} scanned page(s); "
            "if it has text, upload a sharper scan (about 300 dpi)"
        )
    confidence = {i + 1: result.confidence for i, result in read_by_ocr.items()}
    return ParsedDocument(
        text=text,
        sections=[dataclasses.replace(s, ocr_confidence=confidence.get(s.page)) for s in sections],
        media_type=MEDIA_TYPE,
        title=layer.title or None,
        n_pages=len(pages),
        metadata={
            "pages_without_text": [i + 1 for i, page in enumerate(pages) if not page.strip()],
            "ocr_pages": sorted(confidence),
            "low_confidence_pages": sorted(i + 1 for i, result in read_by_ocr.items() if result.low),
        },
    )


def _build(pages: list[str], outline: dict[int, list[tuple[str, ...]]]) -> tuple[str, list[Section]]:
    """The joined text and its sections: a page split where its outline headings start."""
    builder = TextBuilder()
    path: tuple[str, ...] = ()
    for index, page in enumerate(pages):
        for segment, segment_path in split_at_headings(page, outline.get(index, []), path):
            builder.add(segment, page=index + 1, heading_path=segment_path)
            path = segment_path
    text, sections, _ = builder.build()  # PDF text has no table structure
    return text, sections


class _ScanCounter:
    """Told each page as it is read; refuses the PDF as soon as more pages than OCR reads look scanned,
    before the rest are read (a 5,000-page scan is refused after 201 pages)."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.counts: list[int] = []  # letters and digits of each page's text layer
        self.scanned: list[int] = []  # 0-based pages that draw an image and have fewer than MIN_PAGE_CHARS

    def __call__(self, text: str, has_images: bool) -> bool:
        self.counts.append(sum(ch.isalnum() for ch in text))
        if has_images and self.counts[-1] < MIN_PAGE_CHARS:
            self.scanned.append(len(self.counts) - 1)
        if len(self.scanned) > ocr.MAX_PAGES:
            raise DocumentParseError(
                f"{self.filename} has more than {ocr.MAX_PAGES} pages without a text layer (scanned images); OCR "
                f"reads at most {ocr.MAX_PAGES} pages of one document: split it into files of at most "
                f"{ocr.MAX_PAGES} pages, or run OCR on it first (for example ocrmypdf) and upload the result"
            )
        return False


def _check_text(filename: str, layer: PdfText, counts: list[int], scanned: list[int]) -> None:
    """Refuse a PDF with nothing to read, or too much to read by OCR, saying why."""
    texts = [i for i, count in enumerate(counts) if count and i not in scanned]  # pages that keep their text
    if not texts and not scanned and (layer.failures or layer.problems.count):
        # No text, no scan, and pypdf stumbled on the way: damage is the likely cause.
        failures, n = layer.failures, len(layer.pages)
        failed = f"the text of {failures} of {n} pages could not be read" if failures else "it is damaged"
        raise DocumentParseError(
            f"{filename}: no text could be extracted and {failed} ({layer.problems.count} problems while reading); "
            "check that it opens in a PDF viewer, or export it again"
        )
    if not texts and not scanned:
        raise NoTextError(f"{filename} has pages but no text on them; upload a PDF that contains text")
    if not texts:
        ocr.require(filename, "it looks like scanned images")


def _pages(indexes: list[int]) -> str:
    shown = ", ".join(str(i + 1) for i in indexes[:10])
    return shown + (f" and {len(indexes) - 10} more" if len(indexes) > 10 else "")
