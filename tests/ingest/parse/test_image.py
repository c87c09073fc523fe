"""Image uploads read by OCR: pages of a TIFF, EXIF orientation, confidence flags, progress, and refusals."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from ingest.errors import DocumentParseError, NoTextError, UnsupportedMediaTypeError
from ingest.parse import ocr, parse_bytes, progress
from tests.ingest.parse.scans import text_image
from tests.ingest.parse.test_ocr import SIMILARITY, similarity

LINES = {1: ["Invoice number 4711", "Payment due in March"], 2: ["Second page of the fax", "Signed by the manager"]}


def _encode(image: Image.Image, kind: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=kind, **options)
    return buffer.getvalue()


def _tiff(pages: list[Image.Image]) -> bytes:
    return _encode(pages[0], "TIFF", save_all=True, append_images=pages[1:], compression="group4")


def test_a_png_is_one_page_with_its_confidence(valid_sections):
    doc = parse_bytes(_encode(text_image(LINES[1]), "PNG"), "note.png")
    valid_sections(doc)
    assert doc.text == "Invoice number 4711\nPayment due in March"
    assert doc.media_type == "image/png" and doc.n_pages == 1
    [section] = doc.sections
    assert section.page == 1 and section.ocr_confidence is not None and section.ocr_confidence > 80
    assert doc.metadata == {"pages_without_text": [], "ocr_pages": [1], "low_confidence_pages": []}


def test_a_multi_page_tiff_gives_a_page_each_and_reports_progress(valid_sections):
    pages = [text_image(LINES[1]).convert("1"), Image.new("1", (2480, 1200), 1), text_image(LINES[2]).convert("1")]
    reports = []
    with progress.reporting(lambda done, total, unit: reports.append((done, total, unit))):
        doc = parse_bytes(_tiff(pages), "fax.tiff")
    valid_sections(doc)
    assert doc.media_type == "image/tiff" and doc.n_pages == 3
    assert [s.page for s in doc.sections] == [1, 3]  # the blank page has no section
    assert doc.text[doc.sections[1].start : doc.sections[1].end] == "\n".join(LINES[2])
    assert doc.metadata["pages_without_text"] == [2] and doc.metadata["ocr_pages"] == [1, 2, 3]
    assert reports == [(0, 3, "page"), (1, 3, "page"), (2, 3, "page"), (3, 3, "page")]


def test_the_exif_orientation_is_applied():
    """A phone held sideways stores the pixels rotated and says so in EXIF (orientation 6: rotate 90 clockwise)."""
    upright = text_image(LINES[1]).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6
    sideways = _encode(upright.rotate(90, expand=True), "JPEG", exif=exif, quality=90)
    doc = parse_bytes(sideways, "photo.jpg")
    assert doc.media_type == "image/jpeg"
    assert similarity("Invoice number 4711 Payment due in March", doc.text) >= SIMILARITY, doc.text


def test_a_page_under_the_confidence_threshold_is_kept_and_flagged(monkeypatch):
    monkeypatch.setattr(ocr, "LOW_CONFIDENCE", 101.0)  # every page read is under it
    doc = parse_bytes(_encode(text_image(LINES[1]), "PNG"), "note.png")
    assert doc.text == "Invoice number 4711\nPayment due in March"
    assert doc.metadata["low_confidence_pages"] == [1] and doc.sections[0].ocr_confidence < 101


def test_an_image_without_text_is_refused():
    with pytest.raises(NoTextError, match=r"blank.png: OCR found no text in this image; upload a sharper scan"):
        parse_bytes(_encode(Image.new("L", (1000, 800), 255), "PNG"), "blank.png")


def test_a_tiff_with_too_many_pages_is_refused_before_any_is_read(monkeypatch):
    monkeypatch.setattr(ocr, "MAX_PAGES", 2)
    pages = [Image.new("1", (100, 100), 1) for _ in range(3)]
    with pytest.raises(DocumentParseError, match="fax.tif has 3 pages; OCR reads at most 2 pages of one document"):
        parse_bytes(_tiff(pages), "fax.tif")


def test_bytes_that_are_no_image_are_refused():
    with pytest.raises(UnsupportedMediaTypeError, match="a GIF image"):  # the bytes name the format (magic)
        parse_bytes(_encode(Image.new("L", (10, 10)), "GIF"), "photo.png")
    png = _encode(text_image(LINES[1]), "PNG")
    with pytest.raises(DocumentParseError, match="photo.png.*could not be"):
        parse_bytes(png[: len(png) // 2], "photo.png")  # truncated
