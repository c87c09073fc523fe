"""The one text builder every parser writes into, and the one pipe-table renderer."""

from __future__ import annotations

from ingest.parse.builder import TextBuilder, column_names, join_headings, pipe_table
from ingest.parse.types import ParsedDocument, Section, TableSpan
from ingest.tables import extract_tables, split_cells


def test_pipe_table_keeps_cell_values_but_line_breaks_and_escapes_pipes():
    cells = ["a  b", "x|y", "two\r\n lines", "tab\there", " pad ", "v\vw"]
    text, header_end = pipe_table(["h1", "h2"], [cells])
    head, delimiter, row = text.split("\n")
    assert (
        text[:header_end] == f"{head}\n{delimiter}" == "| h1 | h2 |  |  |  |  |\n| --- | --- | --- | --- | --- | --- |"
    )
    assert split_cells(row) == ["a  b", "x|y", "two lines", "tab\there", "pad", "v w"]


def test_column_names_fill_blank_and_repeated_names_as_wide_as_the_widest_row():
    assert column_names(["Name", "", "name", "a\nb"], [["1"] * 5]) == ["Name", "column_2", "name_2", "a b", "column_5"]
    assert column_names(None, [["1", "2"], ["3"]]) == ["column_1", "column_2"]


def test_blocks_at_one_place_share_a_section_until_the_place_changes_or_one_keeps_its_own():
    builder = TextBuilder()
    builder.add("Subject: hi", location="mail", own_section=True)
    builder.add(" body ", location="mail")
    builder.add("more", location="mail")
    builder.add("scan", page=2, ocr_confidence=71.5)
    text, sections, tables = builder.build()
    assert text == "Subject: hi\n\nbody\n\nmore\n\nscan"
    assert sections == [
        Section(0, 11, location="mail"),
        Section(13, 23, location="mail"),
        Section(25, 29, 2, (), None, 71.5),
    ]
    assert tables == [] and len(builder) == len(text)


def test_add_table_records_its_span_header_and_name_and_ingest_tables_reads_it_back():
    builder = TextBuilder()
    builder.add("Sheet Revenue", location="sheet Revenue")
    builder.add_table(
        ["Region", "Units"], [["North | East", "7"], ["South", "8"]], name="Revenue", location="sheet Revenue"
    )
    text, sections, [span] = builder.build()
    assert len(sections) == 1 and text[span.start : span.header_end] == "| Region | Units |\n| --- | --- |"
    assert span.end == len(text) and span.name == "Revenue"
    doc = ParsedDocument(text=text, sections=sections, media_type="x", tables=[span])
    [table] = extract_tables(doc, "book.xlsx")
    assert table.name == "revenue" and table.table.column("region").to_pylist() == ["North | East", "South"]


def test_add_document_shifts_spans_prefixes_headings_and_sets_the_location():
    inner = ParsedDocument(
        text="\n  # Poetry\n\n| a |\n| --- |\n| 1 |  ",
        sections=[Section(3, 11, heading_path=("Poetry",), location="page"), Section(13, 32, page=4)],
        media_type="text/html",
        tables=[TableSpan(13, 32, 26, "t")],
    )
    builder = TextBuilder()
    builder.add("Front", location="front")
    assert builder.add_document(inner, heading_prefix=("Poetry",), location="chapter 1")
    assert not builder.add_document(ParsedDocument(text=" \n ", sections=[], media_type="x"))
    builder.add("Back", location="chapter 1", heading_path=("Poetry",))
    text, sections, [table] = builder.build()
    shift = len("Front\n\n") - 3
    assert text == "Front\n\n# Poetry\n\n| a |\n| --- |\n| 1 |\n\nBack"
    assert sections[1] == Section(3 + shift, 11 + shift, None, ("Poetry",), "chapter 1")
    assert sections[2] == Section(13 + shift, 32 + shift, 4, ("Poetry",), "chapter 1")
    assert sections[3].start == text.index("Back")  # a block after a spliced document starts its own section
    assert table == TableSpan(13 + shift, 32 + shift, 26 + shift, "t")
    assert text[table.start : table.end] == "| a |\n| --- |\n| 1 |"


def test_join_headings_does_not_repeat_the_prefix_title():
    assert join_headings(("Poetry",), (" poetry ", "Odes")) == ("Poetry", "Odes")
    assert join_headings(("Book",), ("Poetry",)) == ("Book", "Poetry")
