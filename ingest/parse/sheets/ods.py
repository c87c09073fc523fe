"""OpenDocument spreadsheets (``.ods``): every table of ``content.xml`` as a ``SheetGrid``.

``content.xml`` is streamed with lxml (no DTD, no entities, no network), one
row at a time. An ODS cell stores its value (``office:value-type`` and
``office:value``, ``office:date-value``...) next to the text the application
displays (``<text:p>``); the displayed text is taken, because it is what the
user sees and searches for (a date shown ``17-01-1960``, a percentage
``12.5%``), and the value only where no text was written. A cell is text for
header detection when its value type is ``string`` (or absent).

Repeats are how ODS writes a sheet's emptiness: ``table:number-columns-repeated``
and ``table:number-rows-repeated`` may declare a cell 16,384 times or a row a
million times. An empty repeated cell or row only moves the position; a
repeated cell with content is written into the grid once per repeat, so it
counts against ``grid.MAX_CELLS`` like any other cell and a declared billion
cells stops at the limit with a clear error.
"""

from __future__ import annotations

import io
import re

from lxml import etree

from ingest.errors import DocumentParseError

from ..container import has_member, open_zip, read_member
from .grid import MAX_COLUMNS, MAX_ROWS, Cell, SheetGrid, check_sheet_count

_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_SPREADSHEET = "application/vnd.oasis.opendocument.spreadsheet"
_VALUE_ATTRIBUTES = ("value", "date-value", "time-value", "boolean-value", "string-value")
_CELLS = {f"{{{_TABLE}}}table-cell", f"{{{_TABLE}}}covered-table-cell"}
_WHITESPACE = re.compile(r"[^\S\n]+")


def read_ods(data: bytes, filename: str) -> tuple[list[SheetGrid], str | None]:
    """The non-empty cells of every sheet, in order, and the document's title (None: ODS titles live in meta.xml).

    Raises:
        DocumentParseError: not an OpenDocument spreadsheet, malformed XML, a
            ``container`` limit, or a ``grid`` limit.
    """
    archive = open_zip(data, filename)
    if has_member(archive, "mimetype"):
        mimetype = read_member(archive, "mimetype", 256).decode("ascii", "replace").strip()
        if mimetype != _SPREADSHEET:
            raise DocumentParseError(
                f"{filename} is an OpenDocument file of type {mimetype!r}, not a spreadsheet; "
                "upload it with the extension of its type"
            )
    try:
        content = read_member(archive, "content.xml")
    except KeyError as exc:
        raise DocumentParseError(f"{filename} has no content.xml; it is not an OpenDocument spreadsheet") from exc
    try:
        return _read_tables(content, filename), None
    except etree.XMLSyntaxError as exc:
        raise DocumentParseError(
            f"{filename}: content.xml is not well-formed XML ({exc}); check that it opens in LibreOffice"
        ) from exc


def _read_tables(content: bytes, filename: str) -> list[SheetGrid]:
    """Stream ``content.xml``: one grid per ``table:table``, filled row by row."""
    events = etree.iterparse(
        io.BytesIO(content),
        events=("start", "end"),
        tag=(f"{{{_TABLE}}}table", f"{{{_TABLE}}}table-row"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
    )
    grids: list[SheetGrid] = []
    row = 0
    for event, element in events:
        if element.tag == f"{{{_TABLE}}}table" and event == "start":
            check_sheet_count(len(grids) + 1, filename)
            grids.append(SheetGrid(element.get(f"{{{_TABLE}}}name") or f"Sheet{len(grids) + 1}", filename))
            row = 0
        elif element.tag == f"{{{_TABLE}}}table-row" and event == "end" and grids:
            row = _read_row(element, row, grids[-1])
            element.clear(keep_tail=False)
            while element.getprevious() is not None:  # rows already read: keep memory flat
                del element.getparent()[0]
    return grids


def _read_row(element, row: int, grid: SheetGrid) -> int:
    """Put one ``table:table-row`` (repeated as it declares) into ``grid``; return the next row's index."""
    repeat = _repeat(element, "number-rows-repeated", MAX_ROWS)
    cells: list[tuple[int, Cell]] = []
    column = 0
    for cell in element:
        if cell.tag not in _CELLS or column >= MAX_COLUMNS:
            continue
        span = _repeat(cell, "number-columns-repeated", MAX_COLUMNS)
        value = _cell(cell)
        if value is not None:
            cells.extend((column + k, value) for k in range(min(span, MAX_COLUMNS - column)))
        column += span
    if cells:
        grid.check_room(len(cells) * (min(row + repeat, MAX_ROWS) - row))
        for r in range(row, min(row + repeat, MAX_ROWS)):
            for column, value in cells:
                grid.put(r, column, value)
    return row + repeat


def _repeat(element, attribute: str, limit: int) -> int:
    """A ``table:number-*-repeated`` count, 1 when absent or malformed, at most ``limit``."""
    raw = element.get(f"{{{_TABLE}}}{attribute}")
    if raw is None or not raw.isdigit() or len(raw) > 9:
        return 1
    return max(1, min(int(raw), limit))


def _cell(element) -> Cell | None:
    """The cell's displayed text, else its typed value; None when it has neither."""
    paragraphs = [_paragraph_text(p) for p in element.iterchildren(f"{{{_TEXT}}}p", f"{{{_TEXT}}}h")]
    text = "\n".join(p for p in paragraphs if p.strip()).strip()
    value_type = element.get(f"{{{_OFFICE}}}value-type")
    if not text:
        text = next((v for a in _VALUE_ATTRIBUTES if (v := element.get(f"{{{_OFFICE}}}{a}"))), "").strip()
    if not text:
        return None
    return Cell(text, value_type in (None, "string"))


def _paragraph_text(paragraph) -> str:
    """The text of a ``text:p`` with its spans, spaces (``text:s``), tabs and line breaks; notes left out."""
    parts = [paragraph.text or ""]
    for child in paragraph:
        name = etree.QName(child).localname if isinstance(child.tag, str) else ""
        if name in ("s", "tab"):
            parts.append(" ")
        elif name == "line-break":
            parts.append("\n")
        elif name not in ("annotation", "note"):
            parts.append(_paragraph_text(child))
        parts.append(child.tail or "")
    return _WHITESPACE.sub(" ", "".join(parts))
