"""Markdown parser (``.md``, ``.markdown``).

The extracted text is the Markdown source itself (decoded, newlines
normalised): it is already readable, and an LLM reads tables, lists and code
fences in it better than in any rendering to plain text. What this module adds
is structure: one section per heading, holding the heading line and everything
up to the next heading, with the heading path (``("Install", "Linux")``).

Headings are recognised as CommonMark defines them, with a line scanner rather
than a full Markdown parser: ATX headings (``# Title``, at most three spaces of
indentation, optional closing ``#``s) and setext headings (a paragraph
underlined with ``===`` or ``---``). Lines inside fenced code blocks (backtick or
tilde fences) and indented code are never headings, so a ``# comment`` in a
shell snippet does not start a section. A YAML front-matter block is skipped
and its ``title:`` used when there is no level-1 heading.

The same scan finds GFM pipe tables (``ParsedDocument.tables``): a header row,
a delimiter row (``|---|:--:|``) with as many cells, then body rows up to a
blank line or the start of another block. Lines of a table are never the text
of a setext heading, so a table never crosses a section.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from core.errors import InvalidInputError

from .common import MAX_HEADING_CHARS, clip_heading, decode_text, reject_binary, trimmed_span
from .types import ParsedDocument, Section, TableSpan

MEDIA_TYPE = "text/markdown"

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
# Lines that open some other block and so cannot be the text of a setext heading.
_NOT_PARAGRAPH = re.compile(r"^(?: {0,3}(?:[-+*>|<]|\d{1,9}[.)])(?:\s|$)| {0,3}<|\s{4,}\S)")
_DELIMITER_ROW = re.compile(r"^ {0,3}\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$")
_CELL_SEPARATOR = re.compile(r"(?<!\\)\|")
# Lines that start another block and so end a table: ATX heading, block quote, list item, thematic break.
_ENDS_TABLE = re.compile(
    r"^ {0,3}(?:#{1,6}(?:[ \t]|$)|>|(?:[-+*]|\d{1,9}[.)])(?:[ \t]|$)|(?:(?:\*[ \t]*){3,}|(?:_[ \t]*){3,})$)"
)
_FRONT_MATTER_END = re.compile(r"^(?:---|\.\.\.)[ \t]*$", re.MULTILINE)
_FRONT_MATTER_TITLE = re.compile(r"^title:\s*(.+?)\s*$", re.MULTILINE)

_INLINE_RULES = (
    (re.compile(r"!?\[([^\]]*)\]\([^)]*\)"), r"\1"),  # [text](url), ![alt](src)
    (re.compile(r"!?\[([^\]]*)\]\[[^\]]*\]"), r"\1"),  # [text][ref]
    (re.compile(r"`+([^`]*)`+"), r"\1"),
    (re.compile(r"(\*\*|__|\*|_|~~)(\S(?:.*?\S)?)\1"), r"\2"),
    (re.compile(r"<[^>]+>"), ""),
    (re.compile(r"(?<!\S):[a-z0-9_+-]+:(?!\S)"), ""),  # :emoji: shortcodes
    (re.compile(r"\\([\\`*_{}\[\]()#+\-.!|])"), r"\1"),
)


@dataclass(frozen=True)
class Heading:
    """A heading found in the source: where its first line starts, its level and plain title."""

    offset: int
    level: int
    title: str


def parse(data: bytes, filename: str) -> ParsedDocument:
    """Parse a Markdown file into sections per heading.

    Args:
        data: the raw bytes.
        filename: used in error messages.

    Returns:
        A document whose text is the Markdown source; each section spans a
        heading line and its body, text before the first heading has an empty
        heading path; ``tables`` locates the pipe tables and their header rows.

    Raises:
        InvalidInputError: the file holds only whitespace.
        DocumentParseError: the bytes are binary, not text.
    """
    reject_binary(data, filename, "Markdown text")
    text = decode_text(data)
    if not text.strip():
        raise InvalidInputError(f"{filename} is empty; upload a file that contains text")
    front_end, front_title = _front_matter(text)
    headings, tables = scan(text, start=front_end)
    sections: list[Section] = []
    stack: list[Heading] = []
    bounds = [0] + [h.offset for h in headings] + [len(text)]
    for index, (start, end) in enumerate(itertools.pairwise(bounds)):
        if index > 0:
            heading = headings[index - 1]
            stack = [h for h in stack if h.level < heading.level] + [heading]
        span = trimmed_span(text, start, end)
        if span is not None:
            sections.append(Section(span[0], span[1], heading_path=tuple(h.title for h in stack)))
    title = next((h.title for h in headings if h.level == 1), None) or front_title
    return ParsedDocument(text=text, sections=sections, media_type=MEDIA_TYPE, title=title, tables=tables)


def find_headings(text: str, start: int = 0) -> list[Heading]:
    """Find the ATX and setext headings of Markdown source, skipping code.

    Args:
        text: the Markdown source with ``\\n`` newlines.
        start: offset where scanning begins (after front matter).

    Returns:
        Headings in document order; those whose title is empty after removing
        inline markup are left out.
    """
    return scan(text, start)[0]


def find_tables(text: str, start: int = 0) -> list[TableSpan]:
    """Find the GFM pipe tables of Markdown source, skipping code.

    Args:
        text: the Markdown source with ``\\n`` newlines.
        start: offset where scanning begins (after front matter).

    Returns:
        Tables in document order; ``text[t.start:t.header_end]`` is the header
        row and the delimiter row, ``text[t.start:t.end]`` the whole table,
        both without surrounding whitespace.
    """
    return scan(text, start)[1]


def scan(text: str, start: int = 0) -> tuple[list[Heading], list[TableSpan]]:
    """Headings and tables of Markdown source in one line scan (see ``find_headings``, ``find_tables``)."""
    headings: list[Heading] = []
    tables: list[TableSpan] = []
    fence: str | None = None  # the opening fence while inside a fenced block
    paragraph: list[tuple[int, str]] = []  # (offset, line) of the open paragraph
    previous: tuple[int, str] | None = None  # the line before, if it could be a table's header row
    table: list[int] | None = None  # [start, end, header_end] of the open table
    offset = start
    for line in text[start:].split("\n"):
        line_start, offset = offset, offset + len(line) + 1
        if fence is not None:
            closing = _FENCE.match(line)
            if (
                closing
                and closing.group(1)[0] == fence[0]
                and len(closing.group(1)) >= len(fence)
                and not closing.group(2).strip()
            ):
                fence = None
            continue
        if table is not None:
            if line.strip() and not _ENDS_TABLE.match(line) and not _opening_fence(line):
                table[1] = line_start + len(line.rstrip())
                continue
            tables.append(TableSpan(*table))
            table = None
        opening = _opening_fence(line)
        if opening:
            fence, paragraph, previous = opening, [], None
            continue
        atx = _ATX.match(line)
        if atx:
            _append(headings, line_start, len(atx.group(1)), atx.group(2) or "")
            paragraph, previous = [], None
            continue
        if previous is not None and _is_delimiter_row(line, previous[1]):
            # The header row interrupts any paragraph above it, as in GFM.
            header_start = previous[0] + len(previous[1]) - len(previous[1].lstrip())
            header_end = line_start + len(line.rstrip())
            table, paragraph, previous = [header_start, header_end, header_end], [], None
            continue
        if _SETEXT.match(line) and paragraph:
            level = 1 if line.strip()[0] == "=" else 2
            _append(headings, paragraph[0][0], level, " ".join(t.strip() for _, t in paragraph))
            paragraph, previous = [], None
            continue
        if not line.strip():
            paragraph = []
        elif paragraph or not _NOT_PARAGRAPH.match(line):
            paragraph.append((line_start, line))
        # A header row is a line of text: not blank, not indented code, not the start of another block.
        code = len(line) - len(line.lstrip(" ")) > 3 and not paragraph
        plain = line.strip() and not code and not _ENDS_TABLE.match(line)
        previous = (line_start, line) if plain else None
    if table is not None:
        tables.append(TableSpan(*table))
    return headings, tables


def _opening_fence(line: str) -> str | None:
    """The fence (a run of backticks or tildes) with which ``line`` opens a code block, if any."""
    opening = _FENCE.match(line)
    if opening and not (opening.group(1)[0] == "`" and "`" in opening.group(2)):
        return opening.group(1)
    return None


def _is_delimiter_row(line: str, header: str) -> bool:
    """Whether ``line`` is a table delimiter row under ``header`` (it has a pipe and as many cells)."""
    return "|" in line and bool(_DELIMITER_ROW.match(line)) and len(row_cells(line)) == len(row_cells(header))


def row_cells(row: str) -> list[str]:
    """The cells of a table row as written: split at unescaped pipes, outer pipes dropped (not stripped)."""
    row = row.strip()
    if row.startswith("|"):
        row = row[1:]
    if row.endswith("|") and not row.endswith("\\|"):
        row = row[:-1]
    return _CELL_SEPARATOR.split(row)


def plain_title(title: str) -> str:
    """Remove inline Markdown (links, emphasis, code, HTML tags, emoji codes) from a heading."""
    for pattern, replacement in _INLINE_RULES:
        title = pattern.sub(replacement, title)
    return " ".join(title.split())


def _append(headings: list[Heading], offset: int, level: int, raw_title: str) -> None:
    # Cut before removing markup: its patterns are slow on a heading line megabytes long.
    title = clip_heading(plain_title(raw_title[: 4 * MAX_HEADING_CHARS]))
    if title:
        headings.append(Heading(offset, level, title))


def _front_matter(text: str) -> tuple[int, str | None]:
    """Return the offset just past a leading YAML front-matter block (0 if none) and its title."""
    if not text.startswith("---\n"):
        return 0, None
    match = _FRONT_MATTER_END.search(text, 4)
    if match is None:
        return 0, None
    block = text[4 : match.start()]
    title = _FRONT_MATTER_TITLE.search(block)
    return match.end(), clip_heading(title.group(1).strip("'\"")) if title else None
