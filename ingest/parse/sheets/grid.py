"""A sheet's non-empty cells, its used range as a table, and the limits that keep a sheet bounded.

Both spreadsheet readers (``xlsx``, ``ods``) put each non-empty cell they read
into a ``SheetGrid``, which holds only those (a sheet that declares a million
empty rows costs nothing) and refuses more than ``MAX_CELLS``. ``add_sheet``
then writes the sheet as one located part of the document: its name, the
title lines above its table, and its used range as a pipe table named after
the sheet.

The used range drops every row and column with no cell at all. Rows at its top
with one text cell and nothing else (a report's "3. Analyses by segment",
"In millions of CHF") are title lines, written above the table rather than as
rows of it, where the range is wider than one column. The first remaining row
is the header when it looks like one: every cell text (no number, date or
boolean), at least half the columns filled, and a row below it; otherwise the
columns are named ``column_1``, ``column_2``... as the CSV parser names them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ingest.errors import DocumentParseError

from ..builder import TextBuilder, column_names

MAX_CELLS = 1_000_000  # per sheet, counted over its used range; the CSV parser's limit
MAX_SHEETS = 200
MAX_COLUMNS = 16_384  # what Excel allows (column XFD); cells past it are ignored
MAX_ROWS = 1_048_576  # what Excel allows; rows past it are ignored


@dataclass
class Cell:
    """One non-empty cell: its text as the sheet shows it, and whether the sheet typed it as text."""

    text: str
    is_text: bool


@dataclass
class SheetGrid:
    """The non-empty cells of one sheet by ``(row, column)``, 0-based.

    Attributes:
        name: the sheet's name.
        filename: the workbook's name, for error messages.
        cells: the non-empty cells read so far.
    """

    name: str
    filename: str
    cells: dict[tuple[int, int], Cell] = field(default_factory=dict)

    def put(self, row: int, column: int, cell: Cell) -> None:
        """Record a non-empty cell; ignored past ``MAX_ROWS`` x ``MAX_COLUMNS``.

        Raises:
            DocumentParseError: the sheet has more than ``MAX_CELLS`` non-empty cells.
        """
        if row >= MAX_ROWS or column >= MAX_COLUMNS or not cell.text.strip():
            return
        self.cells[row, column] = cell
        if len(self.cells) > MAX_CELLS:
            raise self.too_large(f"more than {MAX_CELLS:,} non-empty cells")

    def check_room(self, new_cells: int) -> None:
        """Raise before ``new_cells`` more cells would pass ``MAX_CELLS`` (a row repeated a million times).

        Raises:
            DocumentParseError: naming the limit.
        """
        if len(self.cells) + new_cells > MAX_CELLS:
            raise self.too_large(f"more than {MAX_CELLS:,} non-empty cells")

    def used_range(self) -> list[list[Cell | None]]:
        """The rows of the used range, without its empty rows and columns.

        Raises:
            DocumentParseError: the used range spans more than ``MAX_CELLS`` cells.
        """
        rows = sorted({row for row, _ in self.cells})
        columns = sorted({column for _, column in self.cells})
        if len(rows) * len(columns) > MAX_CELLS:
            raise self.too_large(f"a used range of {len(rows):,} rows x {len(columns):,} columns")
        return [[self.cells.get((row, column)) for column in columns] for row in rows]

    def too_large(self, what: str) -> DocumentParseError:
        """The error for a sheet past ``MAX_CELLS``; ``what`` says what it has."""
        return DocumentParseError(
            f"{self.filename}: sheet {self.name!r} has {what}; the limit is {MAX_CELLS:,} cells per sheet: "
            "split the sheet or delete unused cells"
        )


def check_sheet_count(count: int, filename: str) -> None:
    """Raise when a workbook has more than ``MAX_SHEETS`` sheets.

    Raises:
        DocumentParseError: naming the limit.
    """
    if count > MAX_SHEETS:
        raise DocumentParseError(
            f"{filename} has {count:,} sheets; the limit is {MAX_SHEETS:,}: split the workbook into several files"
        )


def add_sheet(builder: TextBuilder, grid: SheetGrid) -> None:
    """Write one sheet as a located part: its name, its title lines and its table (nothing when it is empty)."""
    rows = grid.used_range()
    if not rows:
        return
    titles: list[str] = []
    while len(rows) > 1 and len(rows[0]) > 1 and _is_title(rows[0]):
        titles.append(next(cell.text for cell in rows[0] if cell is not None))
        rows = rows[1:]
    header = None
    if _looks_like_header(rows):
        header, rows = [cell.text if cell else "" for cell in rows[0]], rows[1:]
    body = [[cell.text if cell else "" for cell in row] for row in rows]
    place = {"heading_path": (grid.name,) if grid.name else (), "location": f"sheet {grid.name}"}
    builder.add(grid.name, **place)
    builder.add("\n".join(" ".join(title.split()) for title in titles), **place)
    builder.add_table(column_names(header, body), body, name=grid.name, **place)


def _is_title(row: list[Cell | None]) -> bool:
    """One text cell and nothing else in the row."""
    filled = [cell for cell in row if cell is not None]
    return len(filled) == 1 and filled[0].is_text


def _looks_like_header(rows: list[list[Cell | None]]) -> bool:
    """The first row is all text, fills at least half the columns, and has a row below it."""
    if len(rows) < 2:
        return False
    filled = [cell for cell in rows[0] if cell is not None]
    return all(cell.is_text for cell in filled) and 2 * len(filled) >= len(rows[0])
