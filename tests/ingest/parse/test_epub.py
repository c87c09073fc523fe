"""EPUB parser: chapters in spine order as locations, titles from the table of contents, limits."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from ingest.errors import DocumentParseError, EncryptedDocumentError, NoTextError
from ingest.parse.container import ZipLimitError
from ingest.parse.epub import book, parse

MORE = Path(__file__).resolve().parents[3].parent / "shared/data/documents-more"

CONTAINER = """<?xml version="1.0"?>
<container xmlns="urn:oasis:names:tc:opendocument:xmlns:container" version="1.0">
  <rootfiles><rootfile full-path="OPS/book.opf" media-type="application/oebps-package+xml"/></rootfiles>
</container>"""
OPF = """<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
    <dc:identifier id="id">urn:test</dc:identifier><dc:title>Engines of Thought</dc:title>
    <dc:creator>Ada Lovelace</dc:creator><dc:creator>Charles Babbage</dc:creator><dc:language>en</dc:language>
  </metadata>
  <manifest>
    <item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>
    <item id="cover" href="text/cover.xhtml" media-type="application/xhtml+xml"/>
    <item id="c1" href="text/one.xhtml" media-type="application/xhtml+xml"/>
    <item id="c2" href="text/two%20b.xhtml" media-type="application/xhtml+xml"/>
    <item id="notes" href="text/notes.xhtml" media-type="application/xhtml+xml"/>
    <item id="img" href="images/cover.png" media-type="image/png"/>
  </manifest>
  <spine><itemref idref="cover"/><itemref idref="nav"/><itemref idref="c1"/><itemref idref="c2"/>
    <itemref idref="notes" linear="no"/><itemref idref="img"/></spine>
</package>"""
NAV = """<?xml version="1.0" encoding="utf-8"?>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops"><head><title>Contents</title></head>
<body><nav epub:type="toc"><ol>
  <li><a href="text/one.xhtml">The Difference Engine</a></li>
  <li><a href="text/two%20b.xhtml#a">Weaving</a></li><li><a href="text/two%20b.xhtml#b">Cards</a></li>
</ol></nav></body></html>"""


def _xhtml(body: str, encoding: str = "utf-8") -> bytes:
    head = f'<?xml version="1.0" encoding="{encoding}"?>\n'
    page = f'<html xmlns="http://www.w3.org/1999/xhtml"><head><title>t</title></head><body>{body}</body></html>'
    return (head + page).encode(encoding)


def _epub(members: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def _book(**changes: bytes | str) -> bytes:
    members = {
        "META-INF/container.xml": CONTAINER,
        "OPS/book.opf": OPF,
        "OPS/nav.xhtml": NAV,
        "OPS/text/cover.xhtml": _xhtml('<div><img src="../images/cover.png" alt=""/></div>'),
        "OPS/text/one.xhtml": _xhtml(
            "<h1>The Difference Engine</h1><div/><p>It computes tables of polynomials.</p>"
            "<h2>Columns</h2><p>Each column holds one digit.</p>"
        ),
        "OPS/text/two b.xhtml": _xhtml(
            '<h2 id="a">Weaving</h2><p>The loom reads punched cards; cr\u00e8me.</p>'
            '<h2 id="b">Cards</h2><p>Chains.</p>',
            "iso-8859-1",
        ),
        "OPS/text/notes.xhtml": _xhtml("<p>Note 1: Menabrea wrote the memoir.</p>"),
        "OPS/images/cover.png": b"\x89PNG\r\n\x1a\n",
    }
    members.update(changes)
    return _epub(members)


def _facts() -> list[tuple[str, str, str]]:
    if not (MORE / "facts.jsonl").is_file():
        return []
    facts = [json.loads(line) for line in (MORE / "facts.jsonl").read_text("utf-8").splitlines() if line.strip()]
    return [(f["file"], f["kind"], f["text"]) for f in facts if f["file"].endswith(".epub")]


def _parse_file(name: str):
    path = MORE / name
    if not path.is_file():
        pytest.skip(f"{path} not found; lay out ../shared beside the repository to run this")
    return parse(path.read_bytes(), path.name)


@pytest.mark.parametrize(("name", "kind", "fact"), _facts())
def test_real_book_facts(name, kind, fact, valid_sections):
    doc = _parse_file(name)
    valid_sections(doc)
    assert fact in doc.text
    if kind == "title":
        titles = {doc.title} | {title for section in doc.sections for title in section.heading_path}
        assert fact in titles


def test_real_books_have_chapters_in_order():
    doc = _parse_file("unstructured/winter-sports.epub")
    assert doc.metadata["author"] == "E. F. Benson" and doc.metadata["chapters"] == 9
    numbers = [int(s.location.split()[1]) for s in doc.sections if s.location]
    assert numbers == sorted(numbers) and set(numbers) == set(range(1, 10))
    chapter_i = doc.text.index("CHAPTER I THE SUN-SEEKER\n\nThere is an amazingly")
    assert doc.text.index("CHAPTER II RINKS AND SKATERS") > chapter_i
    poetry = _parse_file("docling/epub_purvis_poetry.epub")
    grave = next(s for s in poetry.sections if s.heading_path == ("The Grave of the Slave",))
    assert grave.location == "chapter 3"
    assert "The cold storms of winter shall chill him no more" in poetry.text[grave.start : grave.end]


def test_built_book_chapters_titles_and_locations(valid_sections):
    doc = parse(_book(), "engines.epub")
    valid_sections(doc)
    assert doc.title == "Engines of Thought"
    assert doc.metadata == {
        "title": "Engines of Thought",
        "author": "Ada Lovelace, Charles Babbage",
        "language": "en",
        "chapters": 3,
    }
    assert doc.text.startswith("Title: Engines of Thought\nAuthor: Ada Lovelace, Charles Babbage\n\n")
    located = [(s.location, s.heading_path) for s in doc.sections]
    assert located == [
        (None, ()),
        ("chapter 1", ("The Difference Engine",)),  # the toc title, not repeated by the chapter's <h1>
        ("chapter 1", ("The Difference Engine", "Columns")),
        ("chapter 2", ("Weaving",)),  # a file with several toc entries: its own headings
        ("chapter 2", ("Cards",)),
        ("chapter 3", ()),  # the non-linear notes keep their place in the spine
    ]
    assert "Contents" not in doc.text and "crème" in doc.text  # nav skipped; the declared encoding used
    assert "Note 1: Menabrea wrote the memoir." in doc.text


def test_self_closed_elements_do_not_swallow_text():
    nested = "".join('<div class="x"/>' for _ in range(400)) + "<p>Still here.</p>"
    doc = parse(_book(**{"OPS/text/one.xhtml": _xhtml(nested)}), "divs.epub")
    assert "Still here." in doc.text


def test_malformed_chapter_is_read_as_html():
    doc = parse(_book(**{"OPS/text/one.xhtml": b"<html><body><p>Unclosed <b>bold<p>Second</body>"}), "bad.epub")
    assert "Unclosed bold" in doc.text and "Second" in doc.text


def test_chapters_past_the_byte_limit_are_refused(monkeypatch):
    monkeypatch.setattr(book, "MAX_BOOK_BYTES", 500)
    with pytest.raises(ZipLimitError, match="big.epub: its chapters expand to more than 500 bytes"):
        parse(_book(**{"OPS/text/one.xhtml": _xhtml("<p>" + "word " * 200 + "</p>")}), "big.epub")


def test_chapters_past_the_count_limit_are_cut_and_counted(monkeypatch):
    monkeypatch.setattr(book, "MAX_CHAPTERS", 3)
    doc = parse(_book(), "long.epub")
    assert doc.metadata["chapters_left_out"] == 1 and "Menabrea" not in doc.text


def test_zip_bomb_chapter_is_refused():
    bomb = _book(**{"OPS/text/one.xhtml": b"<p>" + b" " * (20 << 20) + b"</p>"})
    with pytest.raises(ZipLimitError):
        parse(bomb, "bomb.epub")


def test_not_an_epub():
    with pytest.raises(DocumentParseError, match="junk.epub is not a readable ZIP container"):
        parse(b"not a zip at all", "junk.epub")
    with pytest.raises(DocumentParseError, match="empty.epub has no package document"):
        parse(_epub({"readme.txt": "hello"}), "empty.epub")


def test_book_of_images_has_no_text():
    members = {"OPS/text/one.xhtml": _xhtml("<img src='a.png'/>"), "OPS/text/two b.xhtml": _xhtml("")}
    members["OPS/text/notes.xhtml"] = _xhtml("<div/>")
    with pytest.raises(NoTextError, match="pictures.epub has no chapter with text"):
        parse(_book(**members), "pictures.epub")


def test_drm_protected_book_is_refused_but_obfuscated_fonts_are_not():
    def encryption(uri: str) -> str:
        return (
            '<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" '
            'xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData><enc:CipherData>'
            f'<enc:CipherReference URI="{uri}"/></enc:CipherData></enc:EncryptedData></encryption>'
        )

    locked = _book(**{"META-INF/encryption.xml": encryption("OPS/text/one.xhtml")})
    with pytest.raises(EncryptedDocumentError, match="locked.epub is DRM-protected"):
        parse(locked, "locked.epub")
    fonts = _book(**{"META-INF/encryption.xml": encryption("OPS/fonts/serif.otf")})
    assert "It computes tables of polynomials." in parse(fonts, "fonts.epub").text
