"""CSV parser: records rendered as one pipe table, the header repeated by the chunker, clear errors."""

from __future__ import annotations

import codecs

import pytest

from core.errors import InvalidInputError
from ingest.chunk import Chunker
from ingest.embed import load_tokenizer
from ingest.errors import DocumentParseError
from ingest.parse import csv as csv_parser
from ingest.parse import detect_media_type, parse_bytes

EXPECTED = "| name | city |\n| --- | --- |\n| Ann | Oslo |\n| Bo | Rome |"


@pytest.mark.parametrize(
    "data",
    [
        b"name,city\nAnn,Oslo\nBo,Rome\n",
        b"name;city\r\nAnn;Oslo\r\nBo;Rome\r\n",
        b"name\tcity\nAnn\tOslo\nBo\tRome",
        b"name|city\nAnn|Oslo\nBo|Rome\n",
        b"name, city\n\nAnn, Oslo\n,\nBo, Rome\n\n",  # spaces after delimiters, blank and empty records
        codecs.BOM_UTF8 + b"name,city\nAnn,Oslo\nBo,Rome\n",
        codecs.BOM_UTF16_LE + "name,city\nAnn,Oslo\nBo,Rome\n".encode("utf-16-le"),
    ],
    ids=["comma", "semicolon-crlf", "tab", "pipe", "spaces-and-blanks", "utf8-bom", "utf16-bom"],
)
def test_delimiters_and_encodings_render_the_same_table(data, valid_sections):
    doc = parse_bytes(data, "people.csv")
    valid_sections(doc)
    assert doc.text == EXPECTED
    assert doc.media_type == "text/csv"
    assert doc.title == "people"
    [table] = doc.tables
    assert (table.start, table.end) == (0, len(doc.text))
    assert doc.text[table.start : table.header_end] == "| name | city |\n| --- | --- |"
    assert [(s.start, s.end) for s in doc.sections] == [(0, len(doc.text))]


def test_quoted_cells_with_delimiters_newlines_pipes_and_quotes():
    data = b'item,note\n"Desk, oak","two\nlines"\nLamp,"a | b"\nPen,"say ""hi"""\n'
    doc = parse_bytes(data, "items.csv")
    assert doc.text.split("\n")[2:] == [
        "| Desk, oak | two lines |",
        "| Lamp | a \\| b |",
        '| Pen | say "hi" |',
    ]


def test_semicolon_file_with_decimal_commas():
    doc = parse_bytes("Monat;Betrag\nJänner;1,5\nFeber;2,25\n".encode("cp1252"), "budget.csv")
    assert doc.text.split("\n")[2:] == ["| Jänner | 1,5 |", "| Feber | 2,25 |"]


def test_blank_and_duplicate_header_names():
    doc = parse_bytes(b"id,,Name,name,id\n1,2,3,4,5\n", "t.csv")
    assert doc.text.split("\n")[0] == "| id | column_2 | Name | name_2 | id_2 |"


def test_short_rows_are_padded_and_trailing_empty_cells_dropped():
    doc = parse_bytes(b"a,b,c\n1\n1,2,3,,\n", "t.csv")
    assert doc.text.split("\n")[2:] == ["| 1 |  |  |", "| 1 | 2 | 3 |"]


def test_a_single_column_file():
    assert parse_bytes(b"word\nalpha\nbeta\n", "words.csv").text == "| word |\n| --- |\n| alpha |\n| beta |"


def test_header_only_is_rejected():
    with pytest.raises(InvalidInputError, match="header row but no data rows; upload a CSV with at least one row"):
        parse_bytes(b"name,city\n\n", "people.csv")


def test_a_row_longer_than_the_header_names_its_line():
    data = b'name,city\nAnn,Oslo\n"Bo\nKim",Rome\nCy,Paris,France\n'
    with pytest.raises(InvalidInputError, match=r"people.csv line 5 has 3 cells but the header has 2; quote cells"):
        parse_bytes(data, "people.csv")


def test_unreadable_quoting_names_its_line():
    with pytest.raises(InvalidInputError, match=r"line 3 could not be read as CSV .*check its quotes"):
        parse_bytes(b'name,city\nAnn,Oslo\n"Bo,Rome\nCy,Paris\n', "people.csv")


def test_too_many_cells(monkeypatch):
    monkeypatch.setattr(csv_parser, "MAX_CELLS", 6)
    assert parse_bytes(b"a,b\n1,2\n3,4\n", "t.csv").text.count("\n") == 3
    with pytest.raises(InvalidInputError, match="more than 6 cells; split it into smaller files"):
        parse_bytes(b"a,b\n1,2\n3,4\n5,6\n", "t.csv")


@pytest.mark.parametrize("data", [b"", b" \r\n\t"])
def test_empty_files_are_rejected(data):
    with pytest.raises(InvalidInputError, match="t.csv is empty"):
        parse_bytes(data, "t.csv")


def test_binary_is_rejected():
    with pytest.raises(DocumentParseError, match="looks like a binary file, not CSV text"):
        parse_bytes(b"PK\x03\x04\x00\x00binary", "sheet.csv")


@pytest.mark.parametrize(
    ("filename", "media_type"),
    [
        ("Data.CSV", None),
        ("data.csv", "application/octet-stream"),
        ("upload", "text/csv; charset=utf-8"),
        ("upload", "application/csv"),
        ("upload", "text/x-csv"),
        ("upload.bin", "application/vnd.ms-excel"),  # what Windows browsers send for .csv
    ],
)
def test_detection_by_extension_and_media_type(filename, media_type):
    assert detect_media_type(filename, media_type) == "text/csv"
    assert parse_bytes(b"a,b\n1,2\n", filename, media_type).text == "| a | b |\n| --- | --- |\n| 1 | 2 |"


def test_the_chunker_repeats_the_header():
    rows = "".join(f"{i},Widget model {i},{10 * i + 3},{i * 1.5:.2f}\n" for i in range(40))
    doc = parse_bytes(("id,product,units,revenue\n" + rows).encode(), "sales.csv")
    [table] = doc.tables
    header = doc.text[table.start : table.header_end]
    chunks = Chunker(load_tokenizer(), 80, 8).chunk(doc)
    assert len(chunks) >= 4
    for c in chunks:
        assert c.text[c.prefix_chars :] == doc.text[c.start : c.end]
        assert c.text.startswith(header + "\n")
        assert c.prefix_chars == (0 if c.start == table.start else len(header) + 1)
