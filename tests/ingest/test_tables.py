"""Typed tables from CSV, Markdown and HTML documents: names, types, nulls, spans and limits."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from ingest import tables
from ingest.parse import parse_bytes
from ingest.tables import extract_tables, split_cells, sql_name
from tests.ingest.table_fixtures import N_ROWS, html_table, markdown_table

EXPENSES = (
    "Date,Category,Amount,Units,Share,Zip,Note\n"
    '2024-01-03,Rent,"$1,200.00",1,12.5%,02134,"first, of ""two"""\n'
    "2024-01-17,Food,310.55,,3%,10001,\n"
    '2024-02-01,Refund,(45.10),"1,000",,94103,"a | b\nc"\n'
    "2024-02-09,Travel,€ 99,-2,0.5%,60601,ok\n"
).encode()


@pytest.fixture
def expenses():
    [table] = extract_tables(parse_bytes(EXPENSES, "Expenses 2024.csv"), "Expenses 2024.csv")
    return table


def test_csv_column_types(expenses):
    assert expenses.name == "expenses_2024"
    assert expenses.table.schema == pa.schema(
        [
            ("date", pa.date32()),
            ("category", pa.string()),
            ("amount", pa.float64()),
            ("units", pa.int64()),
            ("share", pa.float64()),
            ("zip", pa.string()),  # a leading zero makes it an identifier, not a number
            ("note", pa.string()),
        ]
    )
    columns = expenses.table.to_pydict()
    assert columns["date"][0] == dt.date(2024, 1, 3)
    assert columns["amount"] == [1200.0, 310.55, -45.10, 99.0]
    assert columns["units"] == [1, None, 1000, -2]
    assert columns["share"] == [12.5, 3.0, None, 0.5]
    assert columns["zip"] == ["02134", "10001", "94103", "60601"]


def test_cells_round_trip_through_the_rendered_table(expenses):
    # Commas, quotes and pipes come back unchanged; a newline in a cell is read as a space.
    assert expenses.table.column("note").to_pylist() == ['first, of "two"', None, "a | b c", "ok"]


def test_the_sum_of_amounts_equals_the_hand_sum(expenses):
    assert pc.sum(expenses.table.column("amount")).as_py() == pytest.approx(1200.00 + 310.55 - 45.10 + 99)
    assert pc.sum(expenses.table.column("units")).as_py() == 1 + 1000 - 2


def test_the_span_points_at_the_table(expenses):
    doc = parse_bytes(EXPENSES, "e.csv")
    assert (expenses.char_start, expenses.char_end) == (0, len(doc.text))


def test_integer_columns_stay_exact():
    doc = parse_bytes(b"id,amount\n1,9007199254740993\n2,-12\n3,(7)\n", "big.csv")
    [table] = extract_tables(doc, "big.csv")
    assert table.table.column("amount").type == pa.int64()
    assert table.table.column("amount").to_pylist() == [9007199254740993, -12, -7]


def test_invalid_dates_and_european_decimals_are_strings():
    doc = parse_bytes(b"day;amount\n2024-02-30;1,5\n2024-03-01;2\n", "e.csv")
    [table] = extract_tables(doc, "e.csv")
    assert table.table.column("day").to_pylist() == ["2024-02-30", "2024-03-01"]
    assert table.table.column("amount").to_pylist() == ["1,5", "2"]


MARKDOWN_REPORT = b"""# Report

| Item | Amount |
|---|--:|
| Rent | $1,200.00 |
| Food | 310.5 |

Visits per day.

| Day | Visits | Share (%) | Visits |
| :-- | --: | --: | --- |
| 2024-01-01 | 1,204 | 12.5% | x |
| 2024-01-02 | (3) |
| 2024-01-03 | 7 | 1 | y | dropped |
| - | - | - | - |
"""


def test_markdown_document_with_two_tables():
    doc = parse_bytes(MARKDOWN_REPORT, "report.md")
    first, second = extract_tables(doc, "report.md")
    assert [first.name, second.name] == ["report_1", "report_2"]
    assert [(first.char_start, first.char_end), (second.char_start, second.char_end)] == [
        (t.start, t.end) for t in doc.tables
    ]
    assert doc.text[first.char_start :].startswith("| Item | Amount |")
    assert first.table.to_pydict() == {"item": ["Rent", "Food"], "amount": [1200.0, 310.5]}
    assert second.table.column_names == ["day", "visits", "share", "visits_2"]
    # A short row is padded with nulls, a long one cut to the header; a body row of dashes is data.
    assert second.table.to_pydict() == {
        "day": ["2024-01-01", "2024-01-02", "2024-01-03", "-"],
        "visits": ["1,204", "(3)", "7", "-"],
        "share": ["12.5%", None, "1", "-"],
        "visits_2": ["x", None, "y", "-"],
    }
    without_dashes = parse_bytes(MARKDOWN_REPORT.replace(b"| - | - | - | - |\n", b""), "report.md")
    second = extract_tables(without_dashes, "report.md")[1].table
    assert second.schema.types == [pa.date32(), pa.int64(), pa.float64(), pa.string()]
    assert second.column("visits").to_pylist() == [1204, -3, 7]


def test_markdown_fixture_table():
    [table] = extract_tables(parse_bytes(markdown_table(), "sales.md"), "sales.md")
    assert table.name == "sales"
    assert table.table.num_rows == N_ROWS
    assert table.table.column_names == ["region", "product", "units", "revenue"]
    assert pc.sum(table.table.column("units")).as_py() == sum(10 * i + 3 for i in range(N_ROWS))


def test_html_table():
    doc = parse_bytes(html_table(), "page.html")
    [table] = extract_tables(doc, "page.html")
    assert table.name == "page"
    assert (table.char_start, table.char_end) == (doc.tables[0].start, doc.tables[0].end)
    assert table.table.column_names == ["region", "product", "units", "revenue"]
    assert table.table.num_rows == N_ROWS
    assert table.table.column("units").type == pa.int64()
    assert table.table.column("product").to_pylist()[:2] == ["Widget model 0", "Widget model 1"]


def test_html_table_without_header_and_financial_cells():
    page = (
        b"<html><body><p>Results.</p><table>"
        b"<tr><td>Revenue</td><td>$</td><td>1,234</td></tr>"
        b"<tr><td>Loss</td><td>(</td><td>56</td><td>)</td></tr>"
        b"<tr><td>Margin</td><td>12.5</td><td>%</td></tr>"
        b"</table></body></html>"
    )
    [table] = extract_tables(parse_bytes(page, "results.html"), "results.html")
    assert table.table.to_pydict() == {"column_1": ["Revenue", "Loss", "Margin"], "column_2": [1234.0, -56.0, 12.5]}


def test_documents_without_table_rows():
    assert extract_tables(parse_bytes(b"Just prose.\n", "a.txt"), "a.txt") == []
    header_only = parse_bytes(b"| a | b |\n|---|---|\n\nProse after.\n", "h.md")
    assert len(header_only.tables) == 1
    assert extract_tables(header_only, "h.md") == []


def test_limits_drop_extra_tables_and_columns(monkeypatch):
    monkeypatch.setattr(tables, "MAX_TABLES", 2)
    monkeypatch.setattr(tables, "MAX_COLUMNS", 3)
    source = "\n\n".join("| a | b | c | d |\n|---|---|---|---|\n| 1 | 2 | 3 | 4 |" for _ in range(3))
    found = extract_tables(parse_bytes(source.encode(), "many.md"), "many.md")
    assert [t.name for t in found] == ["many_1", "many_2"]
    assert all(t.table.column_names == ["a", "b", "c"] for t in found)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Revenue (EUR)", "revenue_eur"),
        ("Café crème", "cafe_creme"),
        ("2024 budget", "c_2024_budget"),
        ("---", "fallback"),
        ("", "fallback"),
        ("already_fine", "already_fine"),
    ],
)
def test_sql_name(text, expected):
    assert sql_name(text, "fallback") == expected


def test_split_cells():
    assert split_cells("| a | b \\| c |  |") == ["a", "b | c", ""]
    assert split_cells("a | b | c") == ["a", "b", "c"]
    assert split_cells("| x\\|") == ["x|"]
