"""Image parser (``.png``, ``.jpg``, ``.jpeg``, ``.tif``, ``.tiff``): the text in the picture, read by OCR.

Pillow opens the image (only its PNG, JPEG and TIFF readers: a file of another
format is refused, not handed to a reader nobody meant to run), the EXIF
orientation a phone records is applied, and Tesseract reads it (``ocr``). A
multi-page TIFF (what fax and document scanners write) gives one page each:
``Section.page`` is the 1-based page, and each page's section carries its mean
word confidence (``Section.ocr_confidence``).

Bounds (``ocr``): an image of more than ``ocr.MAX_PIXELS`` is scaled down to
it, one of more than ``ocr.MAX_DECODE_PIXELS`` is refused unread, and a TIFF of
more than ``ocr.MAX_PAGES`` pages is refused before any is read.
"""

from __future__ import annotations

from PIL import Image, ImageOps

from ingest.errors import DocumentParseError, NoTextError

from . import ocr, progress
from .builder import TextBuilder
from .types import ParsedDocument


def parse(data: bytes, filename: str) -> ParsedDocument:
    """Read the text of a PNG, JPEG or TIFF image by OCR.

    Returns:
        A document with a section per page that has text (``page`` 1-based, ``ocr_confidence`` set),
        ``n_pages`` the image's pages, and in ``metadata``: ``ocr_pages`` (all of them),
        ``pages_without_text`` and ``low_confidence_pages`` (read with a mean word confidence under
        ``ocr.LOW_CONFIDENCE``: ingested, but flagged).

    Raises:
        MissingToolError: Tesseract is not installed.
        NoTextError: OCR read no word in the image.
        DocumentParseError: not a readable PNG, JPEG or TIFF, too large, or too many pages.
    """
    ocr.require(filename, "it is an image")
    image = ocr.open_image(data, filename)
    n_pages = _count_pages(image, filename)
    builder, confidence = TextBuilder(), {}
    progress.report(0, n_pages)
    for number in range(1, n_pages + 1):
        result = ocr.recognize(_page(image, number, filename), filename, page=number if n_pages > 1 else None)
        if builder.add(result.text, page=number, ocr_confidence=result.confidence) is not None:
            confidence[number] = result.confidence
        progress.report(number, n_pages)
    text, sections, _ = builder.build()
    if not text:
        raise NoTextError(
            f"{filename}: OCR found no text in this image; upload a sharper scan or photo (about 300 dpi, "
            "letters at least 20 pixels high)"
        )
    return ParsedDocument(
        text=text,
        sections=sections,
        media_type=Image.MIME.get(image.format or "", "image/png"),
        n_pages=n_pages,
        metadata={
            "pages_without_text": [n for n in range(1, n_pages + 1) if n not in confidence],
            "ocr_pages": list(range(1, n_pages + 1)),
            "low_confidence_pages": [n for n, value in confidence.items() if value < ocr.LOW_CONFIDENCE],
        },
    )


def _count_pages(image: Image.Image, filename: str) -> int:
    """The image's pages (frames); refused past ``ocr.MAX_PAGES``."""
    try:
        n_pages = getattr(image, "n_frames", 1)
    except Exception as exc:  # a damaged chain of TIFF directories
        raise DocumentParseError(f"{filename}: the pages of this image could not be read ({exc})") from exc
    if n_pages > ocr.MAX_PAGES:
        raise DocumentParseError(
            f"{filename} has {n_pages:,} pages; OCR reads at most {ocr.MAX_PAGES} pages of one document: "
            f"split it into files of at most {ocr.MAX_PAGES} pages"
        )
    return n_pages


def _page(image: Image.Image, number: int, filename: str) -> Image.Image:
    """Page ``number`` (1-based) decoded, upright, and no larger than ``ocr.MAX_PIXELS``."""
    try:
        image.seek(number - 1)
        ocr.check_size(image, filename)
        return ImageOps.exif_transpose(ocr.fit(image))
    except (DocumentParseError, MemoryError):
        raise
    except Exception as exc:  # a truncated or corrupt image: Pillow raises OSError, ValueError, SyntaxError...
        raise DocumentParseError(
            f"{filename}: page {number} of this image could not be decoded ({type(exc).__name__}: {exc}); "
            "check that it opens in an image viewer, or save it again"
        ) from exc
