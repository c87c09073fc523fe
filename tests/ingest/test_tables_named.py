"""Typed tables: tables named by their own name (a spreadsheet's sheets), and day-first or month-first dates."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from ingest.parse import parse_bytes
from ingest.parse.builder import TextBuilder
from ingest.parse.types import ParsedDocument
from ingest.tables import extract_tables


def _document(tables: list[tuple[str | None, list[str], list[list[str]]]]) -> ParsedDocument:
    """A document with one section per table, each table with a (possibly absent) name of its own."""
    builder = TextBuilder()
    for number, (name, header, rows) in enumerate(tables, start=1):
        builder.add_table(header, rows, name=name, location=f"part {number}")
    text, sections, spans = builder.build()
    return ParsedDocument(text=text, sections=sections, media_type="x", tables=spans)


def test_tables_are_named_after_their_own_names_made_sql_safe_and_unique() -> None:
    doc = _document(
        [
            ("Revenue 2024", ["Region", "Units"], [["North", "1"]]),
            ("revenue-2024", ["Region", "Units"], [["South", "2"]]),
            ("Über Kosten", ["Item"], [["rent"]]),
            ("2023", ["Item"], [["rent"]]),
            ("—", ["Item"], [["rent"]]),
        ]
    )
    names = [t.name for t in extract_tables(doc, "Annual Report.xlsx")]
    assert names == ["revenue_2024", "revenue_2024_2", "uber_kosten", "c_2023", "annual_report"]


def test_unnamed_tables_keep_the_stem_numbering_beside_named_ones() -> None:
    doc = _document(
        [
            (None, ["A"], [["1"]]),
            ("Summary", ["A"], [["2"]]),
            (None, ["A"], [["3"]]),
        ]
    )
    assert [t.name for t in extract_tables(doc, "deck.pptx")] == ["deck_1", "summary", "deck_2"]
    single = _document([(None, ["A"], [["1"]]), ("Summary", ["A"], [["2"]])])
    assert [t.name for t in extract_tables(single, "deck.pptx")] == ["deck", "summary"]


def test_a_table_with_no_rows_is_left_out_of_the_names() -> None:
    doc = _document([("Empty", ["A"], []), ("Full", ["A"], [["1"]])])
    [table] = extract_tables(doc, "book.xlsx")
    assert table.name == "full"
    assert table.char_start == doc.tables[1].start


def _csv_column(cells: list[str]) -> pa.Array:
    data = ("when,n\n" + "".join(f"{cell},{i}\n" for i, cell in enumerate(cells))).encode()
    [table] = extract_tables(parse_bytes(data, "t.csv"), "t.csv")
    return table.table.column("when")


def test_day_first_and_month_first_dates_when_the_column_says_which() -> None:
    day_first = _csv_column(["01-01-1960", "17-01-1960", "02/03/1961"])
    assert day_first.type == pa.date32()
    assert day_first.to_pylist() == [dt.date(1960, 1, 1), dt.date(1960, 1, 17), dt.date(1961, 3, 2)]
    month_first = _csv_column(["12/31/2024", "01/02/2024"])
    assert month_first.to_pylist() == [dt.date(2024, 12, 31), dt.date(2024, 1, 2)]


def test_ambiguous_or_invalid_numeric_dates_stay_text() -> None:
    assert _csv_column(["01-02-1960", "03-04-1960"]).type == pa.string()  # both readings are dates
    assert _csv_column(["31-12-2024", "12/31/2024"]).type == pa.string()  # one column, two orders
    assert _csv_column(["32-01-2024"]).type == pa.string()
    assert _csv_column(["2024-01-02", "17-01-1960"]).type == pa.string()  # ISO and day-first mixed
