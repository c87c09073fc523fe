"""CSV parser (``.csv``): the rows rendered as one GFM pipe table.

The extracted text is a Markdown pipe table (header row, ``| --- |`` delimiter
row, one line per record): an LLM reads it as a table, the chunker repeats its
header in every chunk (``ParsedDocument.tables``), and ``ingest.tables``
extracts typed columns from it the same way as from Markdown and HTML tables.
Cells are rendered so that their values come back unchanged from the table
text, except that newlines inside a cell become spaces and surrounding
whitespace is dropped: ``|`` is written ``\\|``.

The delimiter (comma, semicolon, tab or pipe) is sniffed with the stdlib
``csv`` module; quoting follows RFC 4180 (``"a, b"``, ``""`` for a quote), and a quoted cell
must be closed and followed by the delimiter.
The first non-blank record is the header. Blank records are skipped, short
records are padded with empty cells, and empty cells past the header's width
(trailing delimiters, as spreadsheet exports write them) are dropped; a record
with more non-empty cells than the header is an error naming its line.
"""

from __future__ import annotations

import csv
import io
from pathlib import PurePath

from core.errors import InvalidInputError

from .builder import column_names, pipe_table
from .common import decode_text, reject_binary
from .types import ParsedDocument, Section, TableSpan

MEDIA_TYPE = "text/csv"
MAX_CELLS = 1_000_000
MAX_COLUMNS = 16_384  # what Excel allows
DELIMITERS = ",;\t|"
# csv.Sniffer's quote patterns take quadratic time on crafted text (25 s for 64 KiB of
# ',"a' repeated); 8 KiB of whole lines are enough to see the delimiter and cost < 0.3 s.
_SNIFF_CHARS = 8 * 1024


def parse(data: bytes, filename: str) -> ParsedDocument:
    """Parse a CSV file into one pipe table.

    Args:
        data: the raw bytes, in any encoding ``decode_text`` handles (a BOM is dropped).
        filename: its stem is the title; also used in error messages.

    Returns:
        A document whose text is the table in GFM pipe syntax, with one
        section and one ``TableSpan`` covering it; the header span holds the
        header and delimiter rows.

    Raises:
        InvalidInputError: the file is empty, has no record below the header,
            a record longer than the header, a malformed record, or more than
            ``MAX_CELLS`` cells.
        DocumentParseError: the bytes are binary, not text.
    """
    reject_binary(data, filename, "CSV text")
    text = decode_text(data)
    if not text.strip():
        raise InvalidInputError(f"{filename} is empty; upload a file that contains text")
    header, rows = read_rows(text, filename)
    rendered, header_end = pipe_table(header, rows)
    return ParsedDocument(
        text=rendered,
        sections=[Section(0, len(rendered))],
        media_type=MEDIA_TYPE,
        title=PurePath(filename).stem or None,
        tables=[TableSpan(0, len(rendered), header_end)],
    )


def read_rows(text: str, filename: str) -> tuple[list[str], list[list[str]]]:
    """Read decoded CSV text into a header and records of the same width.

    Args:
        text: the decoded file content with ``\\n`` newlines.
        filename: used in error messages.

    Returns:
        ``(header, rows)``: unique, non-blank column names (blank ones become
        ``column_N``, repeats ``name_2``...) and the records, cells stripped,
        each padded to the header's width.

    Raises:
        InvalidInputError: see ``parse``.
    """
    delimiter = sniff_delimiter(text)
    # strict: an unclosed quote is an error rather than a cell that swallows the rest of the file.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, skipinitialspace=True, strict=True)
    header: list[str] | None = None
    rows: list[list[str]] = []
    line = 1  # where the next record starts; reader.line_num is where the last one ended
    try:
        for record in reader:
            start, line = line, reader.line_num + 1
            cells = [cell.strip() for cell in record]
            if not any(cells):
                continue
            if header is None:
                if len(cells) > MAX_COLUMNS:
                    raise InvalidInputError(
                        f"{filename} has {len(cells):,} columns; the limit is {MAX_COLUMNS:,}: "
                        "split the columns over several files"
                    )
                header = column_names(cells, [])
                continue
            if len(cells) > len(header):
                if any(cells[len(header) :]):
                    raise InvalidInputError(
                        f"{filename} line {start} has {len(cells)} cells but the header has {len(header)}; "
                        "quote cells that contain the delimiter, or add the missing column names to the header"
                    )
                del cells[len(header) :]
            rows.append(cells + [""] * (len(header) - len(cells)))
            if (len(rows) + 1) * len(header) > MAX_CELLS:
                raise InvalidInputError(f"{filename} has more than {MAX_CELLS:,} cells; split it into smaller files")
    except csv.Error as exc:
        raise InvalidInputError(
            f"{filename} line {line} could not be read as CSV ({exc}); check its quotes and delimiters"
        ) from exc
    if header is None:
        raise InvalidInputError(f"{filename} has no cells with text; upload a CSV with a header row and data rows")
    if not rows:
        raise InvalidInputError(
            f"{filename} has a header row but no data rows; upload a CSV with at least one row below the header"
        )
    return header, rows


def sniff_delimiter(text: str) -> str:
    """The delimiter of CSV text, one of ``DELIMITERS``.

    ``csv.Sniffer`` looks at the first 8 KiB (whole lines); where it cannot
    decide (one column, or too little text), the candidate that occurs most
    often in the first line wins, comma on a tie.
    """
    sample = text[:_SNIFF_CHARS]
    if len(text) > _SNIFF_CHARS and "\n" in sample:
        sample = sample[: sample.rindex("\n")]  # a cut-off last line would look ragged
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        first = sample.lstrip("\n").split("\n", 1)[0]
        return max(DELIMITERS, key=first.count)
