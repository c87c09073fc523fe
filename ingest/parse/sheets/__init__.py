"""Spreadsheet parsers (``.xlsx`` with openpyxl, ``.ods`` with lxml): one located section and one table per sheet.

Each sheet with a non-empty cell becomes one section located at
"sheet NAME" under the heading ``(NAME,)``: the sheet's name, the title lines
above its data, and its used range as a GFM pipe table (see ``grid``). The
table's ``TableSpan.name`` is the sheet's name, so ``ingest.tables`` makes one
typed SQL table per sheet, named after it. Formulas give the values the
spreadsheet application cached (see ``xlsx``, ``ods``); neither reader opens
a link to another file. Bounds: ``grid.MAX_SHEETS`` sheets per file and
``grid.MAX_CELLS`` cells per sheet, each refused with a ``DocumentParseError``
that names the limit; the archive is checked with ``container.open_zip``.
"""

from __future__ import annotations

from pathlib import PurePath

from ingest.errors import NoTextError

from ..builder import TextBuilder
from ..types import ParsedDocument
from .grid import SheetGrid, add_sheet
from .ods import read_ods
from .xlsx import read_xlsx

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ODS_MEDIA_TYPE = "application/vnd.oasis.opendocument.spreadsheet"

__all__ = ["ODS_MEDIA_TYPE", "XLSX_MEDIA_TYPE", "parse_ods", "parse_xlsx"]


def parse_xlsx(data: bytes, filename: str) -> ParsedDocument:
    """Parse an Excel workbook: one section and one named table per non-empty worksheet.

    Raises:
        DocumentParseError: not a readable workbook, or past a limit (the message names it).
        NoTextError: no worksheet has a non-empty cell.
    """
    grids, title = read_xlsx(data, filename)
    return _document(grids, title, XLSX_MEDIA_TYPE, filename)


def parse_ods(data: bytes, filename: str) -> ParsedDocument:
    """Parse an OpenDocument spreadsheet: one section and one named table per non-empty sheet.

    Raises:
        DocumentParseError: not a readable spreadsheet, or past a limit (the message names it).
        NoTextError: no sheet has a non-empty cell.
    """
    grids, title = read_ods(data, filename)
    return _document(grids, title, ODS_MEDIA_TYPE, filename)


def _document(grids: list[SheetGrid], title: str | None, media_type: str, filename: str) -> ParsedDocument:
    builder = TextBuilder()
    for grid in grids:
        add_sheet(builder, grid)
    text, sections, tables = builder.build()
    if not sections:
        raise NoTextError(f"{filename} has no non-empty cell in any sheet; upload a spreadsheet with data")
    return ParsedDocument(
        text=text,
        sections=sections,
        media_type=media_type,
        title=title or PurePath(filename).stem or None,
        metadata={"sheets": [grid.name for grid in grids]},
        tables=tables,
    )
