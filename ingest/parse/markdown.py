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
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from indexes.errors import InvalidInputError

from .common import decode_text, reject_binary, trimmed_span
from .types import ParsedDocument, Section

MEDIA_TYPE = "text/markdown"

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
# Lines that open some other block and so cannot be the text of a setext heading.
_NOT_PARAGRAPH = re.compile(r"^(?: {0,3}(?:[-+*>|<]|\d{1,9}[.)])(?:\s|$)| {0,3}<|\s{4,}\S)")
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
        heading path.

    Raises:
        InvalidInputError: the file holds only whitespace.
        DocumentParseError: the bytes are binary, not text.
    """
    reject_binary(data, filename, "Markdown text")
    text = decode_text(data)
    if not text.strip():
        raise InvalidInputError(f"{filename} is empty; upload a file that contains text")
    front_end, front_title = _front_matter(text)
    headings = find_headings(text, start=front_end)
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
    return ParsedDocument(text=text, sections=sections, media_type=MEDIA_TYPE, title=title)


def find_headings(text: str, start: int = 0) -> list[Heading]:
    """Find the ATX and setext headings of Markdown source, skipping code.

    Args:
        text: the Markdown source with ``\\n`` newlines.
        start: offset where scanning begins (after front matter).

    Returns:
        Headings in document order; those whose title is empty after removing
        inline markup are left out.
    """
    headings: list[Heading] = []
    fence: str | None = None  # the opening fence while inside a fenced block
    paragraph: list[tuple[int, str]] = []  # (offset, line) of the open paragraph
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
        opening = _FENCE.match(line)
        if opening and not (opening.group(1)[0] == "`" and "`" in opening.group(2)):
            fence, paragraph = opening.group(1), []
            continue
        atx = _ATX.match(line)
        if atx:
            _append(headings, line_start, len(atx.group(1)), atx.group(2) or "")
            paragraph = []
        elif _SETEXT.match(line) and paragraph:
            level = 1 if line.strip()[0] == "=" else 2
            _append(headings, paragraph[0][0], level, " ".join(t.strip() for _, t in paragraph))
            paragraph = []
        elif not line.strip():
            paragraph = []
        elif paragraph or not _NOT_PARAGRAPH.match(line):
            paragraph.append((line_start, line))
    return headings


def plain_title(title: str) -> str:
    """Remove inline Markdown (links, emphasis, code, HTML tags, emoji codes) from a heading."""
    for pattern, replacement in _INLINE_RULES:
        title = pattern.sub(replacement, title)
    return " ".join(title.split())


def _append(headings: list[Heading], offset: int, level: int, raw_title: str) -> None:
    title = plain_title(raw_title)
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
    return match.end(), title.group(1).strip("'\"") if title else None
