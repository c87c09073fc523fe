"""PDF pages without a text layer, rendered with pypdfium2 and read by OCR (``ingest.parse.ocr``).

Why pypdfium2: it binds PDFium, the renderer of Chrome (BSD/Apache), ships as a
wheel with no system library, and renders a page straight to a grayscale
bitmap; pypdf cannot render, and poppler's ``pdftoppm`` would add a program to
install and a file per page. A page is rendered at ``DPI`` (what Tesseract is
trained for) or less where that would exceed ``ocr.MAX_PIXELS`` (a poster-sized
page), and each page read is reported to ``progress``.
"""

from __future__ import annotations

import pypdfium2 as pdfium
from PIL import Image

from ingest.errors import DocumentParseError, EncryptedDocumentError

from .. import ocr, progress
from .text import short

DPI = 300
POINTS_PER_INCH = 72


def read_pages(data: bytes, filename: str, password: str | None, indexes: list[int]) -> dict[int, ocr.OcrResult]:
    """Render and OCR the given pages.

    Args:
        data: the PDF's bytes.
        filename: for messages.
        password: what opened the PDF, if it is encrypted.
        indexes: 0-based page numbers, in order.

    Returns:
        The text read from each page, by 0-based page number.

    Raises:
        DocumentParseError: PDFium cannot open the file or render a page; what ``ocr.recognize`` raises.
    """
    try:
        document = pdfium.PdfDocument(data, password=password)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise EncryptedDocumentError(f"{filename} is encrypted; remove the password and upload again") from exc
        raise DocumentParseError(
            f"{filename}: its pages could not be rendered for OCR ({short(exc)}); check that it opens in a PDF viewer"
        ) from exc
    read: dict[int, ocr.OcrResult] = {}
    progress.report(0, len(indexes))
    try:
        for done, index in enumerate(indexes, start=1):
            read[index] = ocr.recognize(render(document, index, filename), filename, page=index + 1)
            progress.report(done, len(indexes))
    finally:
        document.close()
    return read


def render(document: pdfium.PdfDocument, index: int, filename: str) -> Image.Image:
    """Page ``index`` (0-based) as a grayscale image at ``DPI``, or smaller to fit ``ocr.MAX_PIXELS``."""
    try:
        page = document[index]
        width, height = page.get_size()  # points
        scale = DPI / POINTS_PER_INCH
        if width * height * scale * scale > ocr.MAX_PIXELS:
            scale = 0.995 * (ocr.MAX_PIXELS / (width * height)) ** 0.5  # PDFium rounds each side up
        bitmap = page.render(scale=scale, grayscale=True)
        return bitmap.to_pil()
    except MemoryError:  # the sandbox's memory limit, not a broken page
        raise
    except Exception as exc:  # PDFium reports a broken page in several ways
        raise DocumentParseError(
            f"{filename}: page {index + 1} could not be rendered for OCR ({short(exc)}); check that it opens "
            "in a PDF viewer"
        ) from exc
