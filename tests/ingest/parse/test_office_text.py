"""Word processing formats (.docx, .odt, .doc, .rtf) and the byte checks of binary uploads."""

from __future__ import annotations

import io
import socket
import zipfile
from pathlib import Path

import pytest
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls

from ingest.errors import (
    DocumentParseError,
    EncryptedDocumentError,
    MissingToolError,
    UnsupportedMediaTypeError,
)
from ingest.parse import check_upload, parse_bytes
from ingest.tables import extract_tables

MORE = Path(__file__).resolve().parents[3].parent / "shared/data/documents-more"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def more(relative: str) -> bytes:
    path = MORE / relative
    if not path.is_file():
        pytest.skip(f"{path} not found; lay out ../shared beside the repository to run this")
    return path.read_bytes()


def save(document) -> bytes:
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def rewrite(data: bytes, changes: dict[str, bytes]) -> bytes:
    """The ZIP ``data`` with the members in ``changes`` replaced or added."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, changes.pop(info.filename, None) or src.read(info))
        for name, content in changes.items():
            dst.writestr(name, content)
    return out.getvalue()


def member(data: bytes, name: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return zf.read(name)


def report() -> bytes:
    """A Word document with the structures the parser renders: headings, lists, a table, a comment, a footer."""
    import docx

    document = docx.Document()
    document.add_paragraph("Quarterly report", style="Title")
    document.add_heading("Revenue", level=1)
    run = document.add_paragraph("Revenue grew in every region.").runs[0]
    document.add_comment(run, text="Check the Asia figure.", author="Ana")
    document.add_heading("By region", level=2)
    for item in ("Europe first", "Asia second"):
        document.add_paragraph(item, style="List Bullet")
    for item in ("Collect", "Count"):
        document.add_paragraph(item, style="List Number")
    table = document.add_table(rows=3, cols=2)
    for row, cells in zip(table.rows, [("Region", "Amount"), ("Europe", "1200"), ("Asia | Pacific", "300")]):
        for cell, text in zip(row.cells, cells):
            cell.text = text
    document.add_heading("Costs", level=1)
    document.add_paragraph("Costs fell.")
    document.sections[0].footer.paragraphs[0].text = "Confidential footer"
    return save(document)


def test_docx_structure(valid_sections):
    doc = parse_bytes(report(), "report.docx")
    valid_sections(doc)
    assert doc.media_type == DOCX and doc.title == "Quarterly report"
    text = doc.text
    assert "# Revenue\n\nRevenue grew" in text and "## By region" in text
    assert "- Europe first\n- Asia second\n1. Collect\n2. Count" in text
    paths = {text[s.start : s.end].split("\n")[0]: s.heading_path for s in doc.sections}
    assert paths["# Revenue"] == ("Revenue",)
    assert paths["## By region"] == ("Revenue", "By region")
    assert paths["# Costs"] == ("Costs",)
    assert "# Comments\n\nAna: Check the Asia figure." in text
    assert "# Headers and footers\n\nConfidential footer" in text
    (table,) = doc.tables
    assert text[table.start : table.header_end] == "| Region | Amount |\n| --- | --- |"
    assert text[table.header_end : table.end] == "\n| Europe | 1200 |\n| Asia \\| Pacific | 300 |"
    (extracted,) = extract_tables(doc, "report.docx")
    assert extracted.table.column("amount").to_pylist() == [1200, 300]


def test_docx_headings_by_outline_level_whatever_the_style_is_called():
    import docx

    document = docx.Document()
    style = document.styles.add_style("Überschrift 1", 1)  # a German Word's heading, by name
    style.element.get_or_add_pPr().append(parse_xml(f'<w:outlineLvl {nsdecls("w")} w:val="0"/>'))
    document.add_paragraph("Einleitung", style="Überschrift 1")
    document.add_paragraph("Text der Einleitung.")
    doc = parse_bytes(save(document), "bericht.docx")
    assert doc.text.startswith("# Einleitung\n\nText der Einleitung.")
    assert doc.sections[0].heading_path == ("Einleitung",)


def test_docx_tracked_changes_text_boxes_and_footnotes():
    import docx

    document = docx.Document()
    p = document.add_paragraph("Kept ")
    p._p.append(parse_xml(f'<w:ins {nsdecls("w")} w:id="1" w:author="A"><w:r><w:t>inserted</w:t></w:r></w:ins>'))
    p._p.append(
        parse_xml(f'<w:del {nsdecls("w")} w:id="2" w:author="A"><w:r><w:delText>gone</w:delText></w:r></w:del>')
    )
    doc = parse_bytes(save(document), "changes.docx")
    assert "Kept inserted" in doc.text and "gone" not in doc.text
    various = parse_bytes(more("apache_tika/testWORD_various.docx"), "testWORD_various.docx")
    assert "Footnote appears here[1]" in various.text
    assert "# Footnotes\n\n[1] This is a footnote." in various.text
    assert "Here is a text box" in various.text and various.text.count("Here is a text box") == 1


def test_docx_external_references_are_never_fetched():
    import docx
    from docx.opc.constants import RELATIONSHIP_TYPE

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.setblocking(False)
    url = f"http://127.0.0.1:{server.getsockname()[1]}"
    document = docx.Document()
    paragraph = document.add_paragraph("See the linked picture.")
    part = document.part
    image = part.relate_to(f"{url}/image.png", RELATIONSHIP_TYPE.IMAGE, is_external=True)
    paragraph._p.append(
        parse_xml(f'<w:r {nsdecls("w", "a", "r")}><w:drawing><a:blip r:link="{image}"/></w:drawing></w:r>')
    )
    part.relate_to(f"{url}/template.dotx", RELATIONSHIP_TYPE.IMAGE.replace("image", "attachedTemplate"), True)
    part.relate_to(f"{url}/sub.docx", RELATIONSHIP_TYPE.IMAGE.replace("image", "subDocument"), True)
    part.relate_to(f"{url}/page", RELATIONSHIP_TYPE.HYPERLINK, is_external=True)
    data = save(document)
    assert member(data, "word/_rels/document.xml.rels").count(b'TargetMode="External"') == 4
    try:
        doc = parse_bytes(data, "linked.docx")
        assert "See the linked picture." in doc.text
        with pytest.raises(BlockingIOError):
            server.accept()  # nobody connected
    finally:
        server.close()


def test_macro_enabled_word_document_is_refused_under_any_name():
    data = report()
    types = member(data, "[Content_Types].xml").replace(
        b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
        b"application/vnd.ms-word.document.macroEnabled.main+xml",
    )
    docm = rewrite(data, {"[Content_Types].xml": types})
    for check in (check_upload, parse_bytes):
        with pytest.raises(UnsupportedMediaTypeError, match=r"macro-enabled Word document \(\.docm\)") as info:
            check(docm, "invoice.docx")
        assert "save it as a Word document (.docx)" in str(info.value)


@pytest.mark.parametrize(
    ("relative", "name", "message"),
    [
        ("docling/powerpoint_sample.pptx", "deck.docx", r"is a PowerPoint presentation \(\.pptx\), not a Word "),
        ("unstructured/fake.odt", "sheet.ods", r"rename it to \.odt"),
        ("docling/word_sample.docx", "old.doc", r"is a Word document \(\.docx\), not a Word 97-2003 .*\.docx"),
        ("docling/qr_bill_example.jpg", "scan.docx", r"is a JPEG image \(\.jpg\), not a Word .*rename it to \.jpg"),
        ("apache_tika/testMSG.msg", "letter.doc", r"is an Outlook message \(\.msg\).*rename it to \.msg"),
        ("docling/greek_heading_styles.doc", "mail.msg", r"is a Word 97-2003 document \(\.doc\)"),
        ("unstructured/winter-sports.epub", "book.docx", r"is an EPUB e-book \(\.epub\)"),
    ],
)
def test_office_files_under_the_wrong_name_are_named(relative, name, message):
    with pytest.raises(UnsupportedMediaTypeError, match=message):
        check_upload(more(relative), name)


def test_lying_binary_uploads():
    plain = io.BytesIO()
    with zipfile.ZipFile(plain, "w") as zf:
        zf.writestr("notes.txt", "hello")
    with pytest.raises(UnsupportedMediaTypeError, match=r"is a ZIP archive \(\.zip\), not a Word document"):
        check_upload(plain.getvalue(), "notes.docx")
    with pytest.raises(DocumentParseError, match="its bytes are of no known format"):
        check_upload(b"just some words", "notes.xlsx")
    with pytest.raises(DocumentParseError, match="its bytes are of no known format"):
        check_upload(b"just some words", "picture.png")
    with pytest.raises(DocumentParseError, match=r"is not an RTF document"):
        check_upload(b"plain words", "letter.rtf")
    # Bytes that are what a sibling format is still pass: a JPEG named .png is read by its bytes.
    assert check_upload(more("docling/qr_bill_example.jpg"), "scan.png") == "image/png"
    assert check_upload(more("apache_tika/testWORD_protected_passtika.docx"), "secret.docx") == DOCX


def test_every_corpus_file_passes_the_door():
    files = [p for p in MORE.rglob("*") if p.is_file() and p.suffix not in (".md", ".jsonl")]
    if not files:
        pytest.skip(f"{MORE} not found")
    for path in files:
        assert check_upload(path.read_bytes(), path.name), path


def test_odt_structure(valid_sections):
    doc = parse_bytes(more("docling/text_document_01.odt"), "text_document_01.odt")
    valid_sections(doc)
    assert doc.title == "Title"
    section = next(s for s in doc.sections if "McClintock" in doc.text[s.start : s.end])
    assert section.heading_path == ("heading level 1.0", "Heading level 2: A")
    assert "1. numbered list 1\n2. numbered list 2" in doc.text
    assert "  - bullet list 2.2\n    - bullet list 2.2.1" in doc.text
    fake = parse_bytes(more("unstructured/fake.odt"), "fake.odt")
    (table,) = fake.tables
    assert fake.text[table.start : table.header_end] == "| Header row | Mon | Wed | Fri |\n| --- | --- | --- | --- |"
    assert "| Leader | Sarah | Mark | Ryan |" in fake.text[table.header_end : table.end]


def test_odt_with_a_password_is_refused():
    data = more("unstructured/fake.odt")
    manifest = member(data, "META-INF/manifest.xml").replace(
        b'manifest:full-path="content.xml"', b'manifest:full-path="content.xml"><manifest:encryption-data/'
    )
    with pytest.raises(EncryptedDocumentError, match="fake.odt is password-protected"):
        parse_bytes(rewrite(data, {"META-INF/manifest.xml": manifest}), "fake.odt")


def test_doc_headings_with_localised_style_names(valid_sections):
    doc = parse_bytes(more("docling/greek_heading_styles.doc"), "greek_heading_styles.doc")
    valid_sections(doc)
    assert doc.media_type == "application/msword"
    section = next(s for s in doc.sections if "Standardniveau" in doc.text[s.start : s.end])
    assert section.heading_path == ("Vorgeschlagene Änderung",)
    assert "Überschriften in nicht\u2011englischer Sprache" in doc.text


def test_doc_without_antiword_names_the_package(monkeypatch):
    data = more("docling/greek_heading_styles.doc")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(MissingToolError, match=r"install Debian's antiword package \(apt-get install antiword\)"):
        parse_bytes(data, "old.doc")


def test_doc_that_antiword_cannot_read():
    data = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + "WordDocument".encode("utf-16-le") + bytes(600)
    with pytest.raises(DocumentParseError, match=r"broken.doc could not be read .*is not a Word Document"):
        parse_bytes(data, "broken.doc")


def test_doc_docbook_lists_and_tables():
    from lxml import etree

    from ingest.parse.doc import _DocBookWriter

    # The shape antiword -x db writes for a list and a table.
    xml = b"""<book><chapter><title/><sect1><title>Plan</title>
      <itemizedlist><listitem><para>one</para></listitem><listitem><para>two</para>
        <orderedlist><listitem><para>inner</para></listitem></orderedlist></listitem></itemizedlist>
      <informaltable><tgroup cols='2'><tbody><row><entry>Item</entry><entry>Cost</entry></row>
        <row><entry>Tea</entry><entry>3</entry></row></tbody></tgroup></informaltable></sect1></chapter></book>"""
    writer = _DocBookWriter()
    writer.element(etree.fromstring(xml), 0)
    text, sections, tables = writer.builder.build()
    assert text == "# Plan\n\n- one\n- two\n  1. inner\n\n| Item | Cost |\n| --- | --- |\n| Tea | 3 |"
    assert all(s.heading_path == ("Plan",) for s in sections)
    (table,) = tables
    assert text[table.start : table.header_end] == "| Item | Cost |\n| --- | --- |"


RTF = (
    rb"{\rtf1\ansi\ansicpg1252\uc1{\fonttbl{\f0 Arial;}{\f1\fcharset128 MS Mincho;}{\f2\fcharset204 Arial Cyr;}}"
    rb"{\stylesheet{\s0 Normal;}{\s1\outlinelevel0 heading 1;}}{\info{\title Rich letter}{\author Ana}}"
    rb"{\*\generator Word;}\pard\s1 Greeting\par\pard Japanese {\f1 \'83\'5d\'83\'8b} and {\f2 \'cc\'e8\'f0}"
    rb" and \u-10187?\u-9216? and caf\'e9\par"
    rb"\pard\intbl Name\cell Value\cell\row\pard\intbl Tea\cell 3\cell\row"
    rb"\pard After the table{\super\chftn{\footnote\pard\plain Small print.}}.\par"
    + rb"{\pict\bin4 "
    + b"}{\x00\\"  # four bytes of binary data, braces and all, skipped
    + rb"}{\par}tail\par}"
)


def test_rtf_code_pages_surrogates_tables_and_footnotes(valid_sections):
    doc = parse_bytes(RTF, "letter.rtf")
    valid_sections(doc)
    assert doc.title == "Rich letter"
    assert doc.text.startswith("# Greeting\n\nJapanese ゾル and Мир and 𝐀 and café")
    (table,) = doc.tables
    assert doc.text[table.start : table.end] == "| Name | Value |\n| --- | --- |\n| Tea | 3 |"
    assert "After the table[1]." in doc.text and doc.text.endswith("# Footnotes\n\n[1] Small print.")
    assert "Word;" not in doc.text and "Arial" not in doc.text
    assert doc.sections[0].heading_path == ("Greeting",)


def test_rtf_bytes_decide_the_type_and_nesting_is_bounded():
    assert parse_bytes(rb"{\rtf1 Saved as doc\par}", "letter.doc").media_type == "application/rtf"
    with pytest.raises(DocumentParseError, match="nests groups deeper than 1000"):
        parse_bytes(rb"{\rtf1 " + b"{" * 5000 + b"x" + b"}" * 5000 + b"}", "deep.rtf")


def test_parsers_are_deterministic():
    data = report()
    assert parse_bytes(data, "r.docx") == parse_bytes(bytes(bytearray(data)), "r.docx")


def test_any_office_open_xml_file_is_decrypted_then_checked():
    from msoffcrypto.format.ooxml import OOXMLFile

    out = io.BytesIO()
    OOXMLFile(io.BytesIO(more("docling/powerpoint_sample.pptx"))).encrypt("secret", out)
    encrypted = out.getvalue()
    assert check_upload(encrypted, "deck.pptx") and check_upload(encrypted, "deck.docx")  # sealed: cannot tell
    assert "Second slide title" in parse_bytes(encrypted, "deck.pptx", password="secret").text
    with pytest.raises(UnsupportedMediaTypeError, match=r"deck.docx is a PowerPoint presentation \(\.pptx\)"):
        parse_bytes(encrypted, "deck.docx", password="secret")
    with pytest.raises(EncryptedDocumentError, match="deck.pptx is password-protected"):
        parse_bytes(encrypted, "deck.pptx")
