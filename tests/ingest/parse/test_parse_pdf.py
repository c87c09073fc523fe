"""PDF parser: pages, outline sections, clean-up, and the error cases."""

from __future__ import annotations

import io
import re
import time

import pypdfium2 as pdfium
import pytest
from pypdf import PageObject, PdfReader, PdfWriter

from ingest.errors import DocumentParseError, EncryptedDocumentError, MissingToolError, NoTextError, WrongPasswordError
from ingest.parse import ocr, parse_bytes, progress
from ingest.parse.pdf.ocr_pages import render
from ingest.parse.sandbox import TIMEOUT_S
from tests.ingest.parse.scans import image_pdf, many_image_pages_pdf, merge_pdfs, text_image

PYPDF = "py-pdf_sample-files"
UNSTRUCTURED = "unstructured/example-docs/pdf"


def _parse(path):
    return parse_bytes(path.read_bytes(), path.name)


def test_pages_become_sections(make_pdf, valid_sections):
    doc = parse_bytes(make_pdf([["First page text."], [], ["Third   page\ttext."]]), "made.pdf")
    valid_sections(doc)
    assert doc.media_type == "application/pdf" and doc.n_pages == 3
    assert doc.text == "First page text.\n\nThird page text."  # pages joined by a blank line, spaces collapsed
    assert [s.page for s in doc.sections] == [1, 3]
    assert doc.metadata["pages_without_text"] == [2]


def test_dehyphenation_keeps_real_compounds(make_pdf):
    lines = ["The parser undoes hyphen-", "ation at line ends, but a well-", "known word stays: well-known."]
    lines += ["Cap-", "Ital"]
    doc = parse_bytes(make_pdf([lines]), "hyphens.pdf")
    assert "hyphenation at line ends" in doc.text
    assert "well-known word stays" in doc.text  # "well-known" occurs unbroken elsewhere
    assert "Cap-\nItal" in doc.text  # not lowercase on both sides: left alone


def test_outline_headings_split_pages(make_pdf, valid_sections):
    pdf = make_pdf([["Preface"], ["1 Intro", "text", "2 Method", "more"]])
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    chapter = writer.add_outline_item("Intro", 1)
    writer.add_outline_item("Method", 1, parent=chapter)
    buffer = io.BytesIO()
    writer.write(buffer)
    doc = parse_bytes(buffer.getvalue(), "outline.pdf")
    valid_sections(doc)
    assert [(s.page, s.heading_path, doc.text[s.start : s.end]) for s in doc.sections] == [
        (1, (), "Preface"),
        (2, ("Intro",), "1 Intro\ntext"),
        (2, ("Intro", "Method"), "2 Method\nmore"),
    ]


def test_shared_outline_pdf(documents, valid_sections):
    doc = _parse(documents / PYPDF / "006-pdflatex-outline/pdflatex-outline.pdf")
    valid_sections(doc)
    assert doc.sections[0].heading_path == () and doc.text.startswith("Contents")  # the TOC page
    assert [s.heading_path for s in doc.sections if s.page == 2] == [("Foo",), ("Bar",), ("Baz",), ("Foo",)]
    assert doc.text[doc.sections[2].start :].startswith("2 Bar\nHello, here is some text")


def test_four_pages(documents, valid_sections):
    doc = _parse(documents / PYPDF / "004-pdflatex-4-pages/pdflatex-4-pages.pdf")
    valid_sections(doc)
    assert doc.n_pages == 4 and [s.page for s in doc.sections] == [1, 2, 3, 4]
    assert len(doc.text) > 14000 and "Huardest gefburn" in doc.text


def test_two_columns_are_read_column_by_column(documents):
    doc = _parse(documents / PYPDF / "026-latex-multicolumn/multicolumn.pdf")
    assert doc.text.startswith("Two-Column Document with Lorem Ipsum")
    assert "Lorem ipsum dolor sit amet, consectetuer adipiscing elit." in doc.text  # "adip-\niscing" joined
    assert "filled" in doc.text and "\ufb01" not in doc.text  # the "fi" ligature expanded
    assert not re.search(r"  |\t", doc.text)


def test_encrypted_pdf_asks_for_the_password_to_be_removed(documents):
    path = documents / PYPDF / "005-libreoffice-writer-password/libreoffice-writer-password.pdf"
    with pytest.raises(EncryptedDocumentError) as info:
        _parse(path)
    assert str(info.value) == f"{path.name} is encrypted; remove the password and upload again"


def test_empty_user_password_still_parses(make_pdf):
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf([["Readable although encrypted."]]))))
    writer.encrypt(user_password="", owner_password="owner-only", algorithm="AES-256")
    buffer = io.BytesIO()
    writer.write(buffer)
    assert parse_bytes(buffer.getvalue(), "owner.pdf").text == "Readable although encrypted."
    writer.encrypt(user_password="secret", owner_password="owner-only", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    with pytest.raises(EncryptedDocumentError):
        parse_bytes(buffer.getvalue(), "locked.pdf")


def test_a_scanned_pdf_is_read_by_ocr(documents, valid_sections):
    doc = _parse(documents / UNSTRUCTURED / "single_table.pdf")  # a table, scanned: an image and no text layer
    valid_sections(doc)
    assert "64,058" in doc.text and "mean chunks per document" in doc.text
    assert doc.metadata["ocr_pages"] == [1] and doc.sections[0].ocr_confidence > 80


@pytest.mark.slow
def test_a_pdf_of_pictures_without_words_has_no_text(documents):
    with pytest.raises(NoTextError, match="OCR found no words on its 6 scanned page"):
        _parse(documents / PYPDF / "007-imagemagick-images/imagemagick-images.pdf")


@pytest.mark.parametrize(
    "relative", [f"{PYPDF}/007-imagemagick-images/imagemagick-images.pdf", f"{UNSTRUCTURED}/single_table.pdf"]
)
def test_without_tesseract_a_scanned_pdf_says_what_to_install(documents, relative, monkeypatch):
    monkeypatch.setattr(ocr, "TESSERACT", "tesseract-not-installed-here")  # shutil.which finds nothing
    path = documents / relative
    with pytest.raises(MissingToolError) as info:
        _parse(path)
    message = str(info.value)
    assert message.startswith(
        f"{path.name} has no extractable text (it looks like scanned images) and OCR is not installed on the server; "
        "install Debian's tesseract-ocr and tesseract-ocr-eng packages (`make` does it"
    )
    assert message.endswith("or run OCR on it first (for example ocrmypdf) and upload the result")


def test_an_image_only_pdf_is_read_page_by_page(valid_sections):
    pages = [text_image(["Scanned page one says hello"]), text_image(["Scanned page two says goodbye"])]
    reports = []
    with progress.reporting(lambda *report: reports.append(report)):
        doc = parse_bytes(image_pdf(pages), "scan.pdf")
    valid_sections(doc)
    assert doc.text == "Scanned page one says hello\n\nScanned page two says goodbye"
    assert [s.page for s in doc.sections] == [1, 2] and all(s.ocr_confidence > 80 for s in doc.sections)
    assert doc.metadata == {"pages_without_text": [], "ocr_pages": [1, 2], "low_confidence_pages": []}
    assert reports == [(0, 2, "page"), (1, 2, "page"), (2, 2, "page")]


def test_a_mixed_pdf_gets_ocr_only_where_a_page_has_no_text(make_pdf, monkeypatch, valid_sections):
    read = []
    original = ocr.recognize
    monkeypatch.setattr(
        ocr, "recognize", lambda image, name, page=None: read.append(page) or original(image, name, page)
    )
    typed = make_pdf([["This page was typed and has a real text layer."]])
    data = merge_pdfs(typed, image_pdf([text_image(["This page was scanned"])]), typed)
    doc = parse_bytes(data, "mixed.pdf")
    valid_sections(doc)
    assert read == [2]
    assert doc.text.split("\n\n") == [
        "This page was typed and has a real text layer.",
        "This page was scanned",
        "This page was typed and has a real text layer.",
    ]
    assert [s.ocr_confidence is None for s in doc.sections] == [True, False, True]
    assert doc.metadata["ocr_pages"] == [2]
    monkeypatch.setattr(ocr, "TESSERACT", "tesseract-not-installed-here")  # without OCR: the text layer still counts
    doc = parse_bytes(data, "mixed.pdf")
    assert [s.page for s in doc.sections] == [1, 3] and doc.metadata["pages_without_text"] == [2]


def test_a_page_under_the_confidence_threshold_is_kept_and_flagged(monkeypatch):
    monkeypatch.setattr(ocr, "LOW_CONFIDENCE", 101.0)  # every page read is under it
    doc = parse_bytes(image_pdf([text_image(["Faint scanned words"])]), "faint.pdf")
    assert doc.text == "Faint scanned words" and doc.metadata["low_confidence_pages"] == [1]


def test_an_encrypted_scan_is_read_with_its_password():
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(image_pdf([text_image(["Locked scanned words"])]))))
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="AES-256")
    buffer = io.BytesIO()
    writer.write(buffer)
    assert parse_bytes(buffer.getvalue(), "locked.pdf", password="secret").text == "Locked scanned words"
    with pytest.raises(WrongPasswordError, match="the password given does not open locked.pdf"):
        parse_bytes(buffer.getvalue(), "locked.pdf", password="wrong")


@pytest.mark.slow
def test_a_pdf_of_5000_image_pages_is_refused_before_any_is_read():
    started = time.monotonic()
    with pytest.raises(DocumentParseError) as info:
        parse_bytes(many_image_pages_pdf(5000), "many.pdf")
    assert time.monotonic() - started < TIMEOUT_S / 2  # well within the sandbox's time limit
    assert str(info.value).startswith(
        "many.pdf has more than 200 pages without a text layer (scanned images); OCR reads at most 200 pages of one "
        "document: split it into files of at most 200 pages"
    )


def test_a_poster_sized_page_is_rendered_within_the_pixel_limit():
    writer = PdfWriter()
    writer.add_blank_page(100 * 72, 60 * 72)  # 100 x 60 inches: 540 megapixels at 300 dpi
    buffer = io.BytesIO()
    writer.write(buffer)
    image = render(pdfium.PdfDocument(buffer.getvalue()), 0, "poster.pdf")
    assert image.mode == "L" and image.width * image.height <= ocr.MAX_PIXELS
    assert image.width / image.height == pytest.approx(100 / 60, rel=0.01)


def test_korean_text(documents, valid_sections):
    doc = _parse(documents / UNSTRUCTURED / "korean-text-with-tables.pdf")
    valid_sections(doc)
    assert len(re.findall(r"[\uac00-\ud7a3]", doc.text)) > 300
    assert "적립 제외 대상" in doc.text and "\t" not in doc.text


def test_arabic_text(documents, valid_sections):
    doc = _parse(documents / PYPDF / "015-arabic/habibi.pdf")
    valid_sections(doc)
    assert re.search(r"[\u0600-\u06ff]", doc.text) and "habibi" in doc.text
    assert doc.title == "habibi"


def test_academic_paper_and_google_doc(documents, valid_sections):
    paper = _parse(documents / UNSTRUCTURED / "layout-parser-paper-fast.pdf")
    valid_sections(paper)
    assert "LayoutParser: A Unified Toolkit" in paper.text and "\x00" not in paper.text
    title = "LayoutParser: A Unified Toolkit for Deep Learning Based Document Image Analysis"
    assert paper.sections[0].heading_path == (title,)  # from the outline, found across two lines
    gdoc = _parse(documents / PYPDF / "011-google-doc-document/google-doc-document.pdf")
    valid_sections(gdoc)
    assert gdoc.title == "PDF Example Document" and "Beautiful is better than ugly." in gdoc.text


@pytest.mark.parametrize(
    ("mangle", "match"),
    [
        (lambda pdf: pdf[: len(pdf) // 3], "could not be read as a PDF"),
        (lambda pdf: b"%PDF-1.7\n" + bytes(range(256)) * 8, "could not be read as a PDF"),
        (lambda pdf: b"PK\x03\x04 this is a zip file, not a PDF", "is not a PDF"),
    ],
)
def test_corrupt_pdf_raises_document_parse_error(make_pdf, mangle, match):
    with pytest.raises(DocumentParseError, match=match) as info:
        parse_bytes(mangle(make_pdf([["Some text on a page."] * 20])), "broken.pdf")
    assert not isinstance(info.value, (EncryptedDocumentError, NoTextError))


def test_pdf_without_pages():
    buffer = io.BytesIO()
    PdfWriter().write(buffer)
    with pytest.raises(DocumentParseError, match="has no pages"):
        parse_bytes(buffer.getvalue(), "zero.pdf")


def test_one_unreadable_page_does_not_lose_the_others(make_pdf, monkeypatch):
    original = PageObject.extract_text
    calls = []

    def flaky(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise KeyError("/Font")  # what a broken resource dictionary looks like
        return original(self, *args, **kwargs)

    monkeypatch.setattr(PageObject, "extract_text", flaky)
    doc = parse_bytes(make_pdf([["Page one."], ["Page two survives."]]), "flaky.pdf")
    assert doc.text == "Page two survives." and doc.metadata["pages_without_text"] == [1]

    def broken(self, *args, **kwargs):
        raise KeyError("/Font")

    monkeypatch.setattr(PageObject, "extract_text", broken)
    with pytest.raises(DocumentParseError, match="no page of this PDF could be read"):
        parse_bytes(make_pdf([["Page one."]]), "broken.pdf")


def test_a_damaged_pdf_logs_one_line(make_pdf):
    import logging
    import random

    class Keep(logging.Handler):  # on the root logger, as a server's log is (caplog also taps quiet loggers)
        def __init__(self):
            super().__init__(logging.DEBUG)
            self.records = []

        def emit(self, record):
            self.records.append(record)

    pdf = bytearray(make_pdf([["Some text on a page, long enough to matter."] * 30] * 4) * 8)
    rng = random.Random(3)
    for _ in range(300):  # flip bytes all over: broken objects, streams and cross references
        pdf[rng.randrange(9, len(pdf))] = rng.randrange(256)
    keep, root = Keep(), logging.getLogger()
    root.addHandler(keep)
    try:
        parse_bytes(bytes(pdf), "damaged.pdf")
    except DocumentParseError:
        pass
    finally:
        root.removeHandler(keep)
    records = [r for r in keep.records if r.levelno >= logging.WARNING]
    assert len(records) <= 1, [r.getMessage()[:80] for r in records[:5]]
    assert all(r.name == "ingest.parse.pdf" and "damaged.pdf" in r.getMessage() for r in records)


def test_a_pdf_with_blank_pages_is_not_called_a_scan():
    buffer = io.BytesIO()
    writer = PdfWriter()
    writer.add_blank_page(612, 792)
    writer.write(buffer)
    with pytest.raises(NoTextError) as info:
        parse_bytes(buffer.getvalue(), "blank.pdf")
    assert "scanned" not in str(info.value) and "no text" in str(info.value)


def test_unreadable_pages_are_called_damage_not_a_scan(make_pdf, monkeypatch):
    original = PageObject.extract_text
    calls = []

    def first_fails(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise KeyError("/Font")
        return original(self, *args, **kwargs)

    buffer = io.BytesIO()
    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(make_pdf([["Page one."]]))))
    writer.add_blank_page(612, 792)
    writer.write(buffer)
    monkeypatch.setattr(PageObject, "extract_text", first_fails)
    with pytest.raises(DocumentParseError) as info:
        parse_bytes(buffer.getvalue(), "half-broken.pdf")
    message = str(info.value)
    assert "scanned" not in message and "1 of 2 pages could not be read" in message
