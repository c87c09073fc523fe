"""Spreadsheet parsers: the documents-more workbooks and their facts, workbooks built here, hostile sheets."""

from __future__ import annotations

import datetime as dt
import io
import re
import time
import zipfile

import openpyxl
import pyarrow as pa
import pytest

from ingest.errors import DocumentParseError, NoTextError
from ingest.parse import parse_bytes
from ingest.parse.sheets import grid, parse_ods, parse_xlsx
from ingest.tables import extract_tables
from tests.ingest.parse.conftest import check_sections
from tests.ingest.parse.office_fixtures import (
    facts,
    in_table,
    more_file,
    no_network,
    read_member,
    rewrite_zip,
    section_at,
)

NESTLE = "unstructured/2023-half-year-analyses-by-segment.xlsx"
# The sheet that first shows each fact of facts.jsonl, as SOURCE.md describes the workbooks.
FACT_SHEETS = {
    "Reconciliation 30 06 2023": "Reconciliation 30 06 2023",
    "Nestlé Health Science": "OS-Rev.and results 30 06 2023",
    "Trading operating profit as per Note 3.1": "Reconciliation 30 06 2023",
    "Value / Size": "DataSheet",
    "Grand Total": "PivotSheet1",
    "#DIV/0!": "DataSheet",
    "09060124-b5e7-4717-9d07-3c046eb": "09060124-b5e7-4717-9d07-3c046eb",
    "affc7dad-52dc-4b98-9b5d-51e65d8a8ad0": "09060124-b5e7-4717-9d07-3c046eb",
    "Alpha": "Sheet1",
    "Square of the Record Number": "testing",
    "17-01-1960": "testing",
    "Percent Increment": "testing",
}
WORKBOOKS = [NESTLE, "calamine/pivots.xlsx", "markitdown/test.xlsx", "apache_tika/test-columnar.ods"]


@pytest.mark.parametrize(("name", "kind", "fact"), facts((".xlsx", ".ods")))
def test_fact_is_found_in_its_sheet(name: str, kind: str, fact: str) -> None:
    doc = parse_bytes(more_file(name), name.rsplit("/", 1)[-1])
    needle = f"| {fact} |" if kind == "table_cell" else fact
    offset = doc.text.find(needle)
    assert offset >= 0, f"{fact!r} not in the text of {name}"
    section = section_at(doc, offset)
    assert section.location == f"sheet {FACT_SHEETS[fact]}"
    assert section.heading_path == (FACT_SHEETS[fact],)
    if kind == "table_cell":
        assert in_table(doc, offset)


@pytest.mark.parametrize("name", WORKBOOKS)
def test_real_workbooks_one_named_table_per_sheet(name: str) -> None:
    doc = parse_bytes(more_file(name), name.rsplit("/", 1)[-1])
    check_sections(doc)
    sheets = [s.location.removeprefix("sheet ") for s in doc.sections]
    assert sheets == doc.metadata["sheets"]  # no sheet of these files is empty
    assert [t.name for t in doc.tables] == sheets
    assert len(extract_tables(doc, name)) == len(sheets)


def test_formula_cached_values_from_a_real_workbook() -> None:
    doc = parse_xlsx(more_file(NESTLE), "segments.xlsx")
    # B8 is =SUM(B6:B7), cached 7351; B13 is =SUM(B11:B12), cached 6565 (SOURCE.md)
    assert "| Trading operating profit as per Note 3.1 | 7351 | 6684 |" in doc.text
    assert "| Profit before taxes, associates and joint ventures | 6565 | 6185 |" in doc.text
    # the title rows above the figures are text lines, not rows of the table
    section = next(s for s in doc.sections if s.location == "sheet Reconciliation 30 06 2023")
    assert doc.text[section.start :].startswith(
        "Reconciliation 30 06 2023\n\n3. Analyses by segment\n3.4 Reconciliation"
    )


def test_pivot_and_data_sheets_become_typed_tables() -> None:
    doc = parse_xlsx(more_file("calamine/pivots.xlsx"), "pivots.xlsx")
    tables = {t.name: t.table for t in extract_tables(doc, "pivots.xlsx")}
    assert list(tables) == ["pivotsheet1", "pivotsheet2", "pivotsheet3", "pivotsheet4", "datasheet", "datasheet2"]
    data = tables["datasheet"]
    assert data.schema.field("id").type == pa.int64()
    assert data.schema.field("date").type == pa.date32()
    assert data.column("date").to_pylist()[:2] == [dt.date(2024, 11, 1), dt.date(2024, 1, 4)]
    assert data.column("value_size").to_pylist()[6] == "#DIV/0!"  # an error cell keeps the column text
    assert data.column("isblue").to_pylist()[0] == "TRUE"


def test_ods_displayed_text_and_types() -> None:
    doc = parse_ods(more_file("apache_tika/test-columnar.ods"), "test-columnar.ods")
    assert "| 2 | 4 | This is row 2 of 10 | 20% | 50.0% | 17-01-1960 |" in doc.text
    [table] = extract_tables(doc, "test-columnar.ods")
    assert table.name == "testing"
    assert table.table.schema.field("percent_done").type == pa.float64()
    assert table.table.column("date").to_pylist()[2] == dt.date(1960, 1, 17)  # 17-01-1960 reads day first


def _workbook() -> bytes:
    """Two sheets: 'Sales 2024' (offset from A1, typed values, a formula) and 'Notes' (a one-column list)."""
    book = openpyxl.Workbook()
    sales = book.active
    sales.title = "Sales 2024"
    rows = [
        ("Day", "Region", "Units", "Price", "Paid", "Total"),
        (dt.datetime(2024, 1, 3), "North | East", 7, 1.5, True, "=C4*D4"),
        (dt.datetime(2024, 2, 1, 9, 30), "South", 8, 2.25, False, "=C5*D5"),
    ]
    for r, row in enumerate(rows, start=3):  # two empty rows and one empty column before the data
        for c, value in enumerate(row, start=2):
            sales.cell(r, c, value)
    notes = book.create_sheet("Notes")
    for r, value in enumerate(["first remark", "second remark"], start=1):
        notes.cell(r, 1, value)
    book.create_sheet("Empty")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _with_cached_values(data: bytes, values: list[str]) -> bytes:
    """Write cached results into the formulas of the first sheet, as Excel does on saving (openpyxl does not)."""
    sheet = read_member(data, "xl/worksheets/sheet1.xml").decode()
    cached = iter(values)
    sheet = re.sub(r"(<f>[^<]*</f>)<v\s*/?>(?:</v>)?", lambda m: f"{m.group(1)}<v>{next(cached)}</v>", sheet)
    return rewrite_zip(data, {"xl/worksheets/sheet1.xml": sheet.encode()})


def test_built_workbook_text_locations_and_tables() -> None:
    doc = parse_bytes(_with_cached_values(_workbook(), ["10.5", "18"]), "shop.xlsx")
    check_sections(doc)
    assert [(s.location, s.heading_path) for s in doc.sections] == [
        ("sheet Sales 2024", ("Sales 2024",)),
        ("sheet Notes", ("Notes",)),
    ]
    assert doc.text.startswith(
        "Sales 2024\n\n| Day | Region | Units | Price | Paid | Total |\n| --- | --- | --- | --- | --- | --- |\n"
        "| 2024-01-03 | North \\| East | 7 | 1.5 | TRUE | 10.5 |\n"
        "| 2024-02-01 09:30:00 | South | 8 | 2.25 | FALSE | 18 |"
    )
    assert doc.metadata["sheets"] == ["Sales 2024", "Notes", "Empty"]
    sales, notes = extract_tables(doc, "shop.xlsx")
    assert (sales.name, notes.name) == ("sales_2024", "notes")
    assert sales.table.schema.field("total").type == pa.float64()
    assert sales.table.column("region").to_pylist() == ["North | East", "South"]
    assert notes.table.column_names == ["first_remark"]  # one text column: its first cell is the header


def test_formula_without_cached_value_reads_empty() -> None:
    doc = parse_xlsx(_workbook(), "shop.xlsx")
    assert "| 2024-01-03 | North \\| East | 7 | 1.5 | TRUE |  |" in doc.text


def test_declared_dimension_does_not_expand_the_sheet() -> None:
    data = _workbook()
    sheet = read_member(data, "xl/worksheets/sheet1.xml").decode()
    sheet = re.sub(r'<dimension ref="[^"]*"/>', '<dimension ref="A1:XFD1048576"/>', sheet)
    assert "XFD1048576" in sheet
    started = time.perf_counter()
    doc = parse_xlsx(rewrite_zip(data, {"xl/worksheets/sheet1.xml": sheet.encode()}), "wide.xlsx")
    assert time.perf_counter() - started < 2
    assert doc.text.count("\n| 2024-") == 2


def _external_link_workbook() -> bytes:
    """A workbook whose formula reads another workbook at a URL; the cached value is 42."""
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    data = _workbook()
    sheet = read_member(data, "xl/worksheets/sheet1.xml").decode().replace("<f>C4*D4</f>", "<f>[1]Prices!A1*C4</f>")
    workbook = read_member(data, "xl/workbook.xml").decode()
    workbook = workbook.replace(
        "</sheets>",
        f'</sheets><externalReferences><externalReference xmlns:r="{rel}" r:id="rId99"/></externalReferences>',
    )
    rels = read_member(data, "xl/_rels/workbook.xml.rels").decode()
    rels = rels.replace(
        "</Relationships>",
        f'<Relationship Id="rId99" Type="{rel}/externalLink" Target="externalLinks/externalLink1.xml"/>'
        "</Relationships>",
    )
    types = read_member(data, "[Content_Types].xml").decode()
    types = types.replace(
        "</Types>",
        '<Override PartName="/xl/externalLinks/externalLink1.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.externalLink+xml"/></Types>',
    )
    link = (
        f'<externalLink xmlns="{main}" xmlns:r="{rel}"><externalBook r:id="rId1"><sheetNames>'
        '<sheetName val="Prices"/></sheetNames></externalBook></externalLink>'
    )
    link_rels = (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{rel}/externalLinkPath" Target="http://127.0.0.1:9/prices.xlsx" '
        'TargetMode="External"/></Relationships>'
    )
    data = rewrite_zip(
        data,
        {
            "xl/worksheets/sheet1.xml": sheet.encode(),
            "xl/workbook.xml": workbook.encode(),
            "xl/_rels/workbook.xml.rels": rels.encode(),
            "[Content_Types].xml": types.encode(),
            "xl/externalLinks/externalLink1.xml": link.encode(),
            "xl/externalLinks/_rels/externalLink1.xml.rels": link_rels.encode(),
        },
    )
    return _with_cached_values(data, ["42", "18"])


def test_external_link_is_never_fetched(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _external_link_workbook()
    linked = openpyxl.load_workbook(io.BytesIO(data), keep_links=True)
    assert len(linked._external_links) == 1  # the fixture really carries a link openpyxl would read
    with no_network(monkeypatch) as attempts:
        doc = parse_xlsx(data, "linked.xlsx")
    assert attempts == []
    assert "| 2024-01-03 | North \\| East | 7 | 1.5 | TRUE | 42 |" in doc.text


TABLE_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
)


def _ods(*tables: str) -> bytes:
    """A minimal OpenDocument spreadsheet whose body holds ``tables`` (``<table:table>`` elements)."""
    content = (
        f"<office:document-content {TABLE_NS}><office:body><office:spreadsheet>"
        + "".join(tables)
        + "</office:spreadsheet></office:body></office:document-content>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet", zipfile.ZIP_STORED)
        archive.writestr("content.xml", content)
    return out.getvalue()


def _cell(text: str, repeat: int = 1, value_type: str = "string") -> str:
    repeated = f' table:number-columns-repeated="{repeat}"' if repeat > 1 else ""
    return f'<table:table-cell office:value-type="{value_type}"{repeated}><text:p>{text}</text:p></table:table-cell>'


def _sheet(name: str, rows: str) -> str:
    return f'<table:table table:name="{name}">{rows}</table:table>'


HEADER_ROW = f"<table:table-row>{_cell('Name')}{_cell('Score')}</table:table-row>"
DATA_ROW = f"<table:table-row>{_cell('Ada')}{_cell('9', value_type='float')}</table:table-row>"


def test_ods_empty_repeats_cost_nothing() -> None:
    empty_rest = (
        '<table:table-row table:number-rows-repeated="1048576">'
        '<table:table-cell table:number-columns-repeated="16384"/></table:table-row>'
    )
    wide_row = (
        f'<table:table-row>{_cell("Bo")}<table:table-cell table:number-columns-repeated="1000000000"/>'
        "</table:table-row>"
    )
    started = time.perf_counter()
    doc = parse_ods(_ods(_sheet("Scores", HEADER_ROW + DATA_ROW + wide_row + empty_rest)), "scores.ods")
    assert time.perf_counter() - started < 2
    assert doc.text == "Scores\n\n| Name | Score |\n| --- | --- |\n| Ada | 9 |\n| Bo |  |"


def test_ods_huge_repeated_content_is_refused_at_the_limit() -> None:
    flood = f'<table:table-row table:number-rows-repeated="1048576">{_cell("x", 16384)}</table:table-row>'
    started = time.perf_counter()
    with pytest.raises(DocumentParseError, match=r"the limit is 1,000,000 cells per sheet"):
        parse_ods(_ods(_sheet("Flood", HEADER_ROW + flood)), "flood.ods")
    assert time.perf_counter() - started < 2


def test_ods_repeated_content_within_the_limit_is_kept() -> None:
    cells = _cell("same") + _cell("1", value_type="float")
    repeated = f'<table:table-row table:number-rows-repeated="3">{cells}</table:table-row>'
    doc = parse_ods(_ods(_sheet("Scores", HEADER_ROW + repeated)), "scores.ods")
    assert doc.text.count("| same | 1 |") == 3


def test_used_range_over_the_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(grid, "MAX_CELLS", 10)
    diagonal = "".join(
        f'<table:table-row><table:table-cell table:number-columns-repeated="{i}"/>{_cell("x")}</table:table-row>'
        for i in range(1, 5)
    )
    with pytest.raises(DocumentParseError, match=r"a used range of 4 rows x 4 columns; the limit is 10 cells"):
        parse_ods(_ods(_sheet("Sparse", diagonal)), "sparse.ods")


def test_too_many_sheets_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(grid, "MAX_SHEETS", 2)
    with pytest.raises(DocumentParseError, match=r"3 sheets; the limit is 2"):
        parse_ods(_ods(*(_sheet(f"S{i}", HEADER_ROW + DATA_ROW) for i in range(3))), "many.ods")
    with pytest.raises(DocumentParseError, match=r"3 sheets; the limit is 2"):
        parse_xlsx(_workbook(), "many.xlsx")


def test_unreadable_and_empty_spreadsheets() -> None:
    with pytest.raises(DocumentParseError, match="not a readable Excel"):
        parse_xlsx(_ods(_sheet("S", HEADER_ROW)), "fake.xlsx")
    with pytest.raises(NoTextError):
        parse_ods(_ods(_sheet("Blank", "<table:table-row><table:table-cell/></table:table-row>")), "blank.ods")
    text_document = rewrite_zip(_ods(), {"mimetype": b"application/vnd.oasis.opendocument.text"})
    with pytest.raises(DocumentParseError, match="not a spreadsheet"):
        parse_ods(text_document, "letter.ods")


def test_cells_far_to_the_right_on_every_row_are_refused_quickly() -> None:
    data = _workbook()
    sheet = read_member(data, "xl/worksheets/sheet1.xml").decode()
    far = "".join(f'<row r="{r}"><c r="XFD{r}" t="n"><v>1</v></c></row>' for r in range(1, 701))
    sheet = re.sub(r"<sheetData>.*</sheetData>", f"<sheetData>{far}</sheetData>", sheet, flags=re.DOTALL)
    started = time.perf_counter()
    with pytest.raises(DocumentParseError, match=r"the limit is 10,000,000: delete the cells far to the right"):
        parse_xlsx(rewrite_zip(data, {"xl/worksheets/sheet1.xml": sheet.encode()}), "far.xlsx")
    assert time.perf_counter() - started < 3
