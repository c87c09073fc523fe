"""One document's text written from blocks, pipe tables and whole parsed documents, with its sections and tables.

Every parser but plain text and Markdown writes its text rather than finding it
in the file: paragraphs and headings of a Word or ODF file, the pages of a PDF,
a slide's title and notes, a sheet's cells. ``TextBuilder`` joins those blocks
with a blank line and records one ``Section`` per run of blocks at the same
place (page, heading path, location, OCR confidence) and one ``TableSpan`` per
table, so the offset invariants of ``ParsedDocument`` hold by construction. The
container formats (an e-mail with its HTML body and attached messages, an
e-book made of chapters) parse each piece with the parser for its kind and
splice the whole parsed piece in with ``add_document``.

``pipe_table`` is the one renderer of rows as a GFM pipe table (CSV, Word, ODF,
RTF, slides, sheets). A cell keeps its text but for line breaks, which become a
space so that each row stays on its line, and ``|``, written ``\\|``:
``ingest.tables`` reads the values back unchanged (stripped, as it strips them).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .common import clip_heading
from .types import ParsedDocument, Section, TableSpan

# What str.splitlines splits at, with the whitespace around it: a cell must stay on its row's line.
_LINE_BREAK = re.compile(r"\s*[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]\s*")

# Where a section is: (page, heading path, location, OCR confidence), the fields of ``Section`` after its offsets.
_Place = tuple[int | None, tuple[str, ...], str | None, float | None]


def unique_names(names: list[str]) -> list[str]:
    """Make names unique, case-insensitively, by appending ``_2``, ``_3``... to repeats."""
    seen: set[str] = set()
    tried: dict[str, int] = {}  # the last suffix tried per name: a header of one name repeated stays linear
    result = []
    for name in names:
        candidate, n = name, tried.get(name.lower(), 1)
        while candidate.lower() in seen:
            n += 1
            candidate = f"{name}_{n}"
        tried[name.lower()] = n
        seen.add(candidate.lower())
        result.append(candidate)
    return result


def column_names(header: Sequence[str] | None, rows: Sequence[Sequence[str]]) -> list[str]:
    """Names for every column of a table: the header's cells, or ``column_N`` where one is blank or missing.

    Args:
        header: the header cells, or None for a table without a header row.
        rows: the body rows; the names are as many as the widest row or header has cells.

    Returns:
        The names, line breaks made spaces and stripped as ``pipe_table`` writes them,
        repeats made unique (``unique_names``).
    """
    header = header or ()
    width = max([len(header)] + [len(row) for row in rows])
    cells = [_LINE_BREAK.sub(" ", name).strip() for name in header] + [""] * (width - len(header))
    return unique_names([cell or f"column_{i}" for i, cell in enumerate(cells, start=1)])


def pipe_cell(value: str) -> str:
    """One cell's text in a pipe table: line breaks (and the whitespace around them) one space, stripped, ``\\|``."""
    return _LINE_BREAK.sub(" ", value).strip().replace("|", "\\|")


def pipe_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> tuple[str, int]:
    """Render a header and rows as a GFM pipe table: the header row, a ``| --- |`` delimiter row, the rows.

    Args:
        header: the header row's cells as they are (``column_names`` names blank ones).
        rows: the body rows; each row and the header is padded with empty cells to the widest.

    Returns:
        ``(text, header_end)``: the table and the length of its header and delimiter rows,
        the ``TableSpan.header_end`` offset relative to the table's start.
    """
    width = max([len(header)] + [len(row) for row in rows])

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join([pipe_cell(cell) for cell in cells] + [""] * (width - len(cells))) + " |"

    head = line(header) + "\n| " + " | ".join("---" for _ in range(width)) + " |"
    return "\n".join([head, *(line(row) for row in rows)]), len(head)


def join_headings(prefix: tuple[str, ...], path: tuple[str, ...]) -> tuple[str, ...]:
    """``prefix + path``, without repeating the prefix's last title when ``path`` starts with it.

    A chapter titled "Poetry" whose first heading is also "Poetry" gives ("Poetry", ...), not
    ("Poetry", "Poetry", ...). Titles compare case- and space-insensitively.
    """
    if prefix and path and _same_title(prefix[-1], path[0]):
        path = path[1:]
    return prefix + path


def _same_title(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


class TextBuilder:
    """Accumulates text blocks, tables and parsed documents, separated by a blank line, and their spans.

    Consecutive blocks at the same place (page, heading path, location and OCR
    confidence) share a section, so a section ends exactly where one of them
    changes. A block added with ``own_section`` keeps its section to itself, and
    a spliced document's sections are kept as they are: the block after either
    starts a new section.
    """

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._length = 0
        self._spans: list[list] = []  # [start, end, _Place] per section
        self._tables: list[TableSpan] = []
        self._open = False  # whether the next block at the same place may extend the last section

    def __len__(self) -> int:
        """Characters of text so far (to check a limit while building)."""
        return self._length

    def _append(self, text: str) -> int:
        """Append ``text`` after a blank line; return its start offset."""
        if self._parts:
            self._parts.append("\n\n")
            self._length += 2
        start = self._length
        self._parts.append(text)
        self._length += len(text)
        return start

    def add(
        self,
        block: str,
        *,
        page: int | None = None,
        heading_path: tuple[str, ...] = (),
        location: str | None = None,
        ocr_confidence: float | None = None,
        own_section: bool = False,
    ) -> tuple[int, int] | None:
        """Append one block (stripped; left out when blank) at a page, heading path, location and OCR confidence.

        Args:
            block: the text.
            page, heading_path, location, ocr_confidence: where it is (see ``Section``); titles are clipped.
            own_section: give the block a section of its own, which the next block does not extend
                (an e-mail's header lines), even where the place is the same.

        Returns:
            The block's ``(start, end)`` offsets in the text ``build`` returns, or None when it was blank.
        """
        block = block.strip()
        if not block:
            return None
        place: _Place = (page, tuple(clip_heading(title) for title in heading_path), location, ocr_confidence)
        start = self._append(block)
        last = self._spans[-1] if self._open else None
        if last is not None and not own_section and last[2] == place:
            last[1] = self._length
        else:
            self._spans.append([start, self._length, place])
        self._open = not own_section
        return start, self._length

    def add_table(
        self,
        header: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        name: str | None = None,
        heading_path: tuple[str, ...] = (),
        location: str | None = None,
    ) -> None:
        """Append a header and rows as a pipe table (``pipe_table``) and record its ``TableSpan``, named ``name``."""
        table, header_end = pipe_table(header, rows)
        start, end = self.add(table, heading_path=heading_path, location=location)  # never blank: it has "|"
        self._tables.append(TableSpan(start, end, start + header_end, name))

    def mark_table(self, start: int, end: int, header_end: int) -> None:
        """Record a table the caller wrote as blocks of its own (HTML's rows): ``text[start:end]``."""
        self._tables.append(TableSpan(start, end, header_end))

    def add_document(
        self, doc: ParsedDocument, *, heading_prefix: tuple[str, ...] = (), location: str | None = None
    ) -> bool:
        """Append a parsed document's text, its sections under ``heading_prefix`` and ``location``, and its tables.

        Args:
            doc: the document; its sections and tables are shifted to where its text lands.
            heading_prefix: titles put before each section's heading path (``join_headings``).
            location: replaces each section's location; None keeps them.

        Returns:
            Whether any text was added (False for a document with only whitespace).
        """
        body = doc.text.strip()
        if not body:
            return False
        shift = self._append(body) - (len(doc.text) - len(doc.text.lstrip()))
        prefix = tuple(clip_heading(title) for title in heading_prefix)
        for s in doc.sections:
            where = location if location is not None else s.location
            place = (s.page, join_headings(prefix, s.heading_path), where, s.ocr_confidence)
            self._spans.append([s.start + shift, s.end + shift, place])
        for t in doc.tables:
            self._tables.append(TableSpan(t.start + shift, t.end + shift, t.header_end + shift, t.name))
        self._open = False
        return True

    def build(self) -> tuple[str, list[Section], list[TableSpan]]:
        """Return the joined text, its sections and its tables."""
        sections = [Section(start, end, *place) for start, end, place in self._spans]
        return "".join(self._parts), sections, list(self._tables)
