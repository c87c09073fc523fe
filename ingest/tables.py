"""Typed tables from the tables of a parsed document, for a read-only SQL tool.

Every parser that finds tables records them as ``TableSpan``s over rows of
text with cells separated by ``|``: GFM pipe rows for Markdown and CSV (the CSV
parser renders its records that way), ``a | b | c`` blocks separated by blank
lines for HTML. So one reader serves all three formats: the first line of the
header span names the columns (the rest of the header span, a Markdown
delimiter row or a second HTML header row, is not data), every non-blank line
after it is a row. Cells are split at unescaped pipes, outer pipes dropped,
``\\|`` unescaped and whitespace stripped.

Rows are fitted to the header as GFM does: short rows are padded with nulls,
cells past the header's width are ignored. Rows with no text in any cell are
skipped, and so are tables left with no rows. A table without a header (an
HTML table with no ``<thead>`` or ``<th>`` row) gets columns ``column_1``...
as wide as its widest row. The HTML parser leaves out empty cells, so a row of
an HTML table with blanks is shifted left; nothing in its text says where the
blanks were.

Each column gets the narrowest type all its non-empty cells parse as:
int64, float64, date32, else string; empty cells are null. Dates are ISO
``YYYY-MM-DD``, or ``DD-MM-YYYY`` / ``MM-DD-YYYY`` (with ``-``, ``/`` or
``.``) where the column settles which: every cell reads one way and at
least one cannot be read the other way (``17-01-1960`` is day first); a column
that reads both ways (``01-02-1960``) stays text rather than risk a guess.
Numbers may carry thousands separators (``1,234``), a currency sign (``$ € £``),
a sign or accounting parentheses for negatives (``(12)``), and a trailing
``%`` (``12.5%`` is 12.5, always a float). Numbers with a leading zero
(``007``, ``02134``) are identifiers such as postcodes, so they stay text.
Integers beyond int64 are text too: they are IDs, and a float would change them.

Names are SQL identifiers: ASCII letters (accents dropped), digits and
``_``, lowercase, ``c_`` before a leading digit, ``column_N`` when nothing is
left, ``_2``, ``_3``... on repeats. A table with a name of its own
(``TableSpan.name``: a spreadsheet's sheet) is named after it (sheet
"Revenue 2024" -> ``revenue_2024``); the others are named after the file
(``expenses.csv`` -> ``expenses``), ``<stem>_1``, ``<stem>_2``... when the
document yields several of them. Names are unique within the document. Past ``MAX_TABLES`` tables per document and
``MAX_COLUMNS`` columns per table the rest are dropped without an error: the
document is still indexed as text, only its SQL view is cut.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from pathlib import PurePath

import pyarrow as pa

from ingest.parse.builder import unique_names
from ingest.parse.markdown import row_cells
from ingest.parse.types import ParsedDocument, TableSpan

MAX_TABLES = 100
MAX_COLUMNS = 100

_NOT_IDENTIFIER = re.compile(r"[^a-z0-9]+")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NUMERIC_DATE = re.compile(r"(\d{1,2})([-/.])(\d{1,2})\2(\d{4})")
_NUMBER = re.compile(
    r"(?P<sign>[-+\u2212]?)\s*(?P<currency>[$€£]?)\s*(?P<open>\(?)\s*(?P<inner_sign>[-+\u2212]?)\s*"
    r"(?P<inner_currency>[$€£]?)\s*(?P<whole>\d{1,3}(?:,\d{3})+|\d*)(?P<fraction>\.\d+)?"
    r"\s*(?P<percent>%?)\s*(?P<close>\)?)\s*(?P<outer_percent>%?)"
)
_INT64 = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class ExtractedTable:
    """One table of a document, typed, and where it lies in the document's text.

    Attributes:
        name: the SQL table name, unique within the document.
        table: the rows; columns int64, float64, date32 or string, nulls for empty cells.
        char_start, char_end: the table's span in ``ParsedDocument.text``, for citations.
    """

    name: str
    table: pa.Table
    char_start: int
    char_end: int


def extract_tables(doc: ParsedDocument, filename: str) -> list[ExtractedTable]:
    """The tables of a parsed document as typed pyarrow tables.

    Args:
        doc: a parsed document; its ``tables`` locate the tables in ``text``.
        filename: the uploaded file's name; its stem names the tables that have no name of their own.

    Returns:
        At most ``MAX_TABLES`` tables, in document order, each with at least
        one row and at most ``MAX_COLUMNS`` columns; empty when the document
        has no table with rows.
    """
    found = []
    for span in doc.tables:
        table = _read_table(doc.text, span)
        if table is not None:
            found.append((span, table))
        if len(found) == MAX_TABLES:
            break
    names = _table_names([span for span, _ in found], filename)
    return [ExtractedTable(name, table, span.start, span.end) for name, (span, table) in zip(names, found)]


def _table_names(spans: list[TableSpan], filename: str) -> list[str]:
    """One unique SQL name per table: its own name where it has one, else the file's stem (numbered)."""
    stem = sql_name(PurePath(filename).stem, "table")
    unnamed = sum(1 for span in spans if not span.name)
    names, number = [], 0
    for span in spans:
        if span.name:
            names.append(sql_name(span.name, stem))
        else:
            number += 1
            names.append(stem if unnamed == 1 else f"{stem}_{number}")
    return unique_names(names)


def split_cells(line: str) -> list[str]:
    """The cells of one table row: split at unescaped ``|``, outer pipes dropped, ``\\|`` unescaped, stripped."""
    return [cell.strip().replace("\\|", "|") for cell in row_cells(line)]


def sql_name(text: str, fallback: str) -> str:
    """A lowercase SQL identifier made from ``text``; ``fallback`` when no letter or digit is left."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    name = _NOT_IDENTIFIER.sub("_", ascii_text).strip("_")
    if not name:
        return fallback
    return f"c_{name}" if name[0].isdigit() else name


def _read_table(text: str, span: TableSpan) -> pa.Table | None:
    """The span's rows as a typed table, or None when it has no row with text."""
    header_lines = [line for line in text[span.start : span.header_end].split("\n") if line.strip()]
    rows = [split_cells(line) for line in text[span.header_end : span.end].split("\n") if line.strip()]
    rows = [row for row in rows if any(row)]
    if not rows:
        return None
    header = split_cells(header_lines[0]) if header_lines else []
    width = min(len(header) if header else max(len(row) for row in rows), MAX_COLUMNS)
    header = (header + [""] * width)[:width]
    names = unique_names([sql_name(name, f"column_{i}") for i, name in enumerate(header, start=1)])
    rows = [(row + [""] * width)[:width] for row in rows]
    return pa.table({name: _column(list(cells)) for name, cells in zip(names, zip(*rows))})


def _column(cells: list[str]) -> pa.Array:
    """The narrowest typed array that holds every cell; empty cells are null."""
    filled = [cell for cell in cells if cell]
    numbers = [_number(cell) for cell in filled]
    if filled and all(n is not None for n in numbers):
        values = iter(numbers)
        column = [next(values) if cell else None for cell in cells]
        if all(isinstance(n, int) for n in numbers):
            return pa.array(column, type=pa.int64())
        return pa.array([None if v is None else float(v) for v in column], type=pa.float64())
    dates = _dates(filled)
    if filled and dates is not None:
        values = iter(dates)
        return pa.array([next(values) if cell else None for cell in cells], type=pa.date32())
    return pa.array([cell or None for cell in cells], type=pa.string())


def _number(cell: str) -> int | float | None:
    """The value of a numeric cell (int when it has no fraction and no ``%``), else None."""
    match = _NUMBER.fullmatch(cell)
    if match is None:
        return None
    part = match.groupdict()
    whole, fraction = part["whole"].replace(",", ""), part["fraction"] or ""
    if not whole and not fraction:
        return None
    if (
        bool(part["open"]) != bool(part["close"])  # unbalanced parentheses
        or (part["open"] and (part["sign"] or part["inner_sign"]))  # "(-12)": which negative is meant?
        or (part["sign"] and part["inner_sign"])
        or (part["currency"] and part["inner_currency"])
        or (part["percent"] and part["outer_percent"])
        or (len(whole) > 1 and whole[0] == "0")  # an identifier such as a postcode, not a quantity
    ):
        return None
    negative = bool(part["open"]) or (part["sign"] or part["inner_sign"]) in {"-", "\u2212"}
    if fraction or part["percent"] or part["outer_percent"]:
        value = float((whole or "0") + fraction)
        return -value if negative else value
    value = -int(whole) if negative else int(whole)
    return value if _INT64[0] <= value <= _INT64[1] else None


def _dates(cells: list[str]) -> list[dt.date] | None:
    """The dates of non-empty cells, all ISO or all one unambiguous day/month order; else None."""
    iso = [_date(cell) for cell in cells]
    if all(d is not None for d in iso):
        return iso
    for day_first in (True, False):
        read = [_numeric_date(cell, day_first) for cell in cells]
        other = [_numeric_date(cell, not day_first) for cell in cells]
        if all(d is not None for d in read) and any(d is None for d in other):
            return read
    return None


def _numeric_date(cell: str, day_first: bool) -> dt.date | None:
    """The date of a ``DD-MM-YYYY`` (``day_first``) or ``MM-DD-YYYY`` cell, else None."""
    match = _NUMERIC_DATE.fullmatch(cell)
    if match is None:
        return None
    first, _, second, year = match.groups()
    day, month = (first, second) if day_first else (second, first)
    try:
        return dt.date(int(year), int(month), int(day))
    except ValueError:
        return None


def _date(cell: str) -> dt.date | None:
    """The date of an ISO ``YYYY-MM-DD`` cell, else None."""
    if not _DATE.fullmatch(cell):
        return None
    try:
        return dt.date.fromisoformat(cell)
    except ValueError:
        return None
