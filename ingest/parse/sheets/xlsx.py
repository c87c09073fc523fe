"""Excel workbooks (``.xlsx``) with openpyxl: every worksheet's cells as ``SheetGrid``s.

The workbook is opened read-only (rows streamed from the XML, never a whole
sheet of cell objects) with ``data_only=True``, so a formula cell gives the
value Excel cached when it last saved the file; a formula never calculated
(written by a library that does not compute) has no value and reads as empty.
``keep_links=False``: links to other workbooks are not even read, let alone
opened. Values are written as text the table reader types back: integers
without ``.0``, other numbers with up to 15 significant digits (what Excel
shows), dates as ISO ``YYYY-MM-DD`` (with the time after a space when it is not
midnight), booleans ``TRUE``/``FALSE``, errors as Excel writes them (``#DIV/0!``).
Chart sheets have no cells and are skipped.
"""

from __future__ import annotations

import datetime as dt
import io

from openpyxl import load_workbook

from ingest.errors import DocumentParseError

from ..container import open_zip
from .grid import MAX_CELLS, MAX_ROWS, Cell, SheetGrid, check_sheet_count

# openpyxl pads each row it streams to its last cell's column, so a sheet with one cell in column XFD
# on every row is read as 16,384 positions a row; scanning is bounded by positions, not cells.
MAX_POSITIONS = 10 * MAX_CELLS


def read_xlsx(data: bytes, filename: str) -> tuple[list[SheetGrid], str | None]:
    """The non-empty cells of every worksheet, in the workbook's order, and the workbook's title.

    Raises:
        DocumentParseError: not a readable workbook, a ``container`` limit, or a
            ``grid`` limit (sheets per file, cells per sheet).
    """
    open_zip(data, filename)
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
    except Exception as exc:  # openpyxl raises KeyError, ValueError, InvalidFileException, lxml errors...
        raise DocumentParseError(
            f"{filename} is not a readable Excel (.xlsx) workbook ({type(exc).__name__}: {exc}); "
            "check that it opens in Excel, or save it again as .xlsx"
        ) from exc
    try:
        check_sheet_count(len(book.worksheets), filename)
        grids = [_read_sheet(sheet, filename) for sheet in book.worksheets]
        title = (book.properties.title or "").strip() or None
    finally:
        book.close()
    return grids, title


def _read_sheet(sheet, filename: str) -> SheetGrid:
    """One worksheet's non-empty cells."""
    grid = SheetGrid(sheet.title, filename)
    # The <dimension> a file declares may be A1:XFD1048576; without it rows are not padded to that width.
    sheet.reset_dimensions()
    positions = 0
    try:
        for row_index, row in enumerate(sheet.iter_rows(values_only=True)):
            positions += len(row)
            if row_index >= MAX_ROWS or positions > MAX_POSITIONS:
                _check_positions(positions, sheet.title, filename)
                break
            for column, value in enumerate(row):
                if value is not None:
                    grid.put(row_index, column, Cell(cell_text(value), isinstance(value, str)))
    except DocumentParseError:
        raise
    except Exception as exc:  # a corrupt sheet part: openpyxl raises whatever its XML reader meets
        raise DocumentParseError(
            f"{filename}: sheet {sheet.title!r} could not be read ({type(exc).__name__}: {exc}); "
            "check that it opens in Excel, or save it again as .xlsx"
        ) from exc
    return grid


def _check_positions(positions: int, sheet: str, filename: str) -> None:
    """Raise when a sheet's rows span more than ``MAX_POSITIONS`` cell positions.

    Raises:
        DocumentParseError: naming the limit.
    """
    if positions > MAX_POSITIONS:
        raise DocumentParseError(
            f"{filename}: sheet {sheet!r} spreads its cells over more than {MAX_POSITIONS:,} positions "
            f"(rows x columns up to each row's last cell); the limit is {MAX_POSITIONS:,}: delete the cells "
            "far to the right of the data, or split the sheet"
        )


def cell_text(value: object) -> str:
    """A cell value as text the table reader types back (see the module docstring)."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return format(value, ".15g")
    if isinstance(value, dt.datetime):
        if value.time() == dt.time():
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value)
