"""The package API: media-type detection, dispatch, empty input and text decoding."""

from __future__ import annotations

import codecs

import pytest

from core.errors import InvalidInputError
from ingest.errors import DocumentParseError, UnsupportedMediaTypeError
from ingest.parse import SUPPORTED_TYPES, detect_media_type, parse_bytes, parser_for
from ingest.parse.builder import TextBuilder
from ingest.parse.common import decode_text, trimmed_span


def test_supported_types_cover_every_format():
    assert SUPPORTED_TYPES == {
        ".txt": "text/plain",
        ".md": "text/markdown",
        ".markdown": "text/markdown",
        ".html": "text/html",
        ".htm": "text/html",
        ".pdf": "application/pdf",
        ".csv": "text/csv",
        ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ".odt": "application/vnd.oasis.opendocument.text",
        ".doc": "application/msword",
        ".rtf": "application/rtf",
        ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ".ods": "application/vnd.oasis.opendocument.spreadsheet",
        ".eml": "message/rfc822",
        ".msg": "application/vnd.ms-outlook",
        ".epub": "application/epub+zip",
        ".png": "image/png",
        ".jpg": "image/jpeg",
        ".jpeg": "image/jpeg",
        ".tif": "image/tiff",
        ".tiff": "image/tiff",
    }


def test_every_type_has_a_parser_imported_on_first_use():
    import subprocess
    import sys

    # Importing the package loads no parser module: the sandbox worker loads python-docx only for a .docx.
    code = (
        "import sys, ingest.parse; print(sorted(m for m in sys.modules if m.startswith(('docx', 'pptx', 'openpyxl'))))"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
    for media_type in set(SUPPORTED_TYPES.values()):
        assert callable(parser_for(media_type)), media_type


@pytest.mark.parametrize(
    ("filename", "media_type", "expected"),
    [
        ("Report.PDF", None, "application/pdf"),
        ("notes.markdown", None, "text/markdown"),
        ("page.htm", None, "text/html"),
        ("notes.md", "application/octet-stream", "text/markdown"),  # what browsers send for .md
        ("upload", "text/html; charset=utf-8", "text/html"),
        ("upload.bin", "application/xhtml+xml", "text/html"),
        ("upload.bin", "text/x-markdown", "text/markdown"),
        ("a.txt", "", "text/plain"),
        ("report.pdf", "text/plain", "application/pdf"),  # a known extension beats a wrong Content-Type
        ("server.log", "text/plain", "text/plain"),
        ("README", "text/markdown", "text/markdown"),
        ("export", "application/vnd.ms-excel", "text/csv"),
        ("letter", "text/rtf", "application/rtf"),
        ("scan.JPG", None, "image/jpeg"),
        ("upload", "image/jpg", "image/jpeg"),
        ("mail", "message/rfc822", "message/rfc822"),
    ],
)
def test_detect_media_type(filename, media_type, expected):
    assert detect_media_type(filename, media_type) == expected


def test_bytes_decide_pdf_and_rtf():
    assert detect_media_type("letter.doc", None, b"{\\rtf1\\ansi Hello}") == "application/rtf"
    assert detect_media_type("report.docx", None, b"%PDF-1.7\n") == "application/pdf"
    assert detect_media_type("letter.doc", None, b"\xd0\xcf\x11\xe0") == "application/msword"


def test_unsupported_extension_names_the_supported_ones():
    with pytest.raises(UnsupportedMediaTypeError) as info:
        detect_media_type("slides.ppt")
    message = str(info.value)
    assert message.startswith(".ppt is not supported; upload one of: ")
    for extension in SUPPORTED_TYPES:
        assert extension in message


def test_unsupported_without_extension():
    with pytest.raises(UnsupportedMediaTypeError, match="has no file extension; upload one of"):
        detect_media_type("Makefile")
    with pytest.raises(UnsupportedMediaTypeError, match="image/gif is not supported"):
        parse_bytes(b"GIF89a", "clipboard", "image/gif")


def test_unsupported_type_is_an_invalid_input_error():
    with pytest.raises(InvalidInputError):
        parse_bytes(b"data", "sheet.xls")


@pytest.mark.parametrize("filename", ["a.txt", "a.md", "a.html", "a.pdf", "a.csv"])
@pytest.mark.parametrize("data", [b"", b"  \n\t\r\n "])
def test_empty_files_are_rejected(filename, data):
    with pytest.raises(InvalidInputError, match=f"{filename} is empty"):
        parse_bytes(data, filename)


def test_whitespace_only_utf16_text_is_empty():
    with pytest.raises(InvalidInputError, match="is empty"):
        parse_bytes(codecs.BOM_UTF16_LE + "   \n".encode("utf-16-le"), "a.txt")


def test_dispatch_sets_media_type_and_title(fixtures):
    doc = parse_bytes((fixtures / "guide.md").read_bytes(), "guide.md")
    assert doc.media_type == "text/markdown"
    assert doc.title == "Field Guide"
    assert parse_bytes(b"<p>Hello there.</p>", "x.bin", "text/html").media_type == "text/html"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (codecs.BOM_UTF8 + "naïve café".encode(), "naïve café"),
        (codecs.BOM_UTF16_LE + "日本語".encode("utf-16-le"), "日本語"),
        (codecs.BOM_UTF16_BE + "Ωmega".encode("utf-16-be"), "Ωmega"),
        ("“smart quotes” – café €5".encode("cp1252"), "“smart quotes” – café €5"),
        (b"caf\xe9 \x81 ok", "café  ok"),  # 0x81 is undefined in cp1252: latin-1, control char dropped
        (b"one\r\ntwo\rthree\n", "one\ntwo\nthree\n"),
        (b"plain ascii", "plain ascii"),
    ],
)
def test_decode_text_never_fails(data, expected):
    assert decode_text(data) == expected


def test_decode_text_uses_declared_encoding_after_utf8():
    assert decode_text("Ďakujem".encode("cp1250"), declared="windows-1250") == "Ďakujem"
    assert decode_text("Ďakujem".encode(), declared="windows-1250") == "Ďakujem"
    assert decode_text(b"caf\xe9", declared="no-such-codec") == "café"


def test_binary_text_is_rejected():
    with pytest.raises(DocumentParseError, match="looks like a binary file"):
        parse_bytes(b"\x7fELF\x02\x01\x00\x00binary", "program.txt")


def test_trimmed_span():
    assert trimmed_span("  ab c \n", 0, 8) == (2, 6)
    assert trimmed_span(" \n ", 0, 3) is None


def test_text_builder_merges_blocks_with_the_same_location():
    builder = TextBuilder()
    builder.add(" A ", heading_path=("H",))
    builder.add("B", heading_path=("H",))
    builder.add("   ")
    builder.add("C", page=2)
    text, sections, _ = builder.build()
    assert text == "A\n\nB\n\nC"
    assert [(s.start, s.end, s.page, s.heading_path) for s in sections] == [(0, 4, None, ("H",)), (6, 7, 2, ())]
