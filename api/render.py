"""Markdown to safe HTML, with character ranges of the source highlighted as ``<mark>`` elements.

The page shows answers, passages and whole documents as rendered Markdown (HTML documents are
stored as their parsed text, so the same path serves them). Three steps, each simple on its own:

1. Each highlighted range gets a pair of private-use sentinel characters in the source text,
   moved off the line-level syntax that a character in the wrong place would break (a heading's
   ``##``, a list marker, a fence or table delimiter line): a range that starts at a heading
   starts at its text. Characters of the reserved block in the input become U+FFFD first, so a
   document cannot forge a mark, and the offsets stay the same.
2. markdown-it renders the text with raw HTML off (it is escaped as text), then the sentinels
   become ``<mark class="cite" data-mark="i">`` around each run of text they cover: a mark never
   contains a tag, so the HTML stays well formed wherever a range starts and ends (inside a
   code block too), and the first piece of range ``i`` carries ``id="mark-i"``.
3. nh3 cleans the result against an allow-list (no images, no styles, http/https/mailto links
   only, ``rel="noopener noreferrer"``): a second wall, should the first ever let markup through.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import nh3
from markdown_it import MarkdownIt

from core.errors import InvalidInputError

__all__ = ["MAX_MARKS", "Rendered", "check_marks", "place_sentinels", "render_markdown", "sanitize", "wrap_marks"]

MAX_MARKS = 256  # ranges of one text; each takes two characters of the reserved block
SENTINEL_BASE = 0xE000  # range i opens with U+E000 + 2i and closes with U+E001 + 2i
RESERVED = re.compile("[\ue000-\ue1ff]")
ENCODED_SENTINEL = re.compile("%EE%8[0-7]%[89AB][0-9A-F]", re.IGNORECASE)  # one in a link, percent-encoded

# Remote images are not loaded (a document could track its readers): ![alt](url) renders as a link.
MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(["table", "strikethrough"])
MARKDOWN.disable("image")

TAGS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "pre", "code", "em", "strong", "a", "blockquote"}
TAGS |= {"table", "thead", "tbody", "tr", "th", "td", "hr", "br", "mark", "del", "s"}
ATTRIBUTES = {"a": {"href", "title"}, "code": {"class"}, "mark": {"id", "data-mark"}, "ol": {"start"}}
CLEANER = nh3.Cleaner(
    tags=TAGS,
    attributes=ATTRIBUTES,
    tag_attribute_values={"mark": {"class": {"cite"}}},
    url_schemes={"http", "https", "mailto"},
    link_rel="noopener noreferrer",
    strip_comments=True,
)

# Line-level syntax (CommonMark): a sentinel inside it would turn the line into plain text.
SYNTAX_LINE = re.compile(
    r"[ \t]*$"  # blank
    r"| {0,3}(?:`{3,}|~{3,})"  # a code fence
    r"| {0,3}(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,}|=+[ \t]*)$"  # a break, a setext underline
    r"|[ \t]*\|?(?:[ \t]*:?-+:?[ \t]*\|?)+[ \t]*$"  # a table's delimiter row
    r"| {0,3}\[[^\]]+\]:"  # a link reference definition (not shown; a sentinel would land in its URL)
)
LINE_PREFIX = re.compile(r"(?:[ \t]*(?:>|[-+*](?=[ \t])|\d{1,9}[.)](?=[ \t])|#{1,6}(?=[ \t]|$)|\|))*[ \t]*")
# Where a sentinel would land in a URL (or be punycoded into a host name): a link's destination and
# title, a reference link's label, an autolink. (A range that starts inside a shortcut
# reference, ``[label]``, still breaks that link: it shows as text.)
LINK_TARGET = re.compile(
    r"\]\((?:[^()\s]|\([^()\s]*\))*(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^()]*\)))?\s*\)"
    r"|\]\[[^\[\]]+\]"  # a reference link's label
    r"|<[A-Za-z][A-Za-z0-9.+-]{1,31}:[^<>\s]*>|<[^<>\s@]+@[^<>\s]+>"
)

LINK_WINDOW = 2048

HTML_PIECES = re.compile("<[^>]*>|[\ue000-\ue1ff]")  # markdown-it escapes every < of text, so < opens a tag
TAG_NAME = re.compile(r"</?([a-z0-9]+)")
PHRASING = {"em", "strong", "code", "a", "del", "s"}  # after <em> or </em>, text is inline
INLINE_OPENED = PHRASING | {"p", "h1", "h2", "h3", "h4", "h5", "h6", "td", "th", "br"}
INLINE_CLOSED = PHRASING


@dataclass(frozen=True)
class Rendered:
    """Sanitised HTML, and whether any highlighted range showed up in it (an empty one, or one
    whose characters are all syntax, does not)."""

    html: str
    marked: bool


def render_markdown(text: str, marks: Sequence[tuple[int, int]] = ()) -> Rendered:
    """Render ``text`` as safe HTML with each ``(start, end)`` character range of it highlighted.

    Raises:
        InvalidInputError: a range that is not within the text, or too many ranges.
    """
    check_marks(text, marks)
    source = place_sentinels(RESERVED.sub("\ufffd", text), marks)
    html, marked = wrap_marks(MARKDOWN.render(source), len(marks))
    return Rendered(sanitize(html), marked)


def sanitize(html: str) -> str:
    """``html`` with only the allow-listed tags, attributes and URL schemes left."""
    return CLEANER.clean(html)


def check_marks(text: str, marks: Sequence[tuple[int, int]]) -> None:
    """Raise :class:`InvalidInputError` unless every range is ``0 <= start <= end <= len(text)``."""
    if len(marks) > MAX_MARKS:
        raise InvalidInputError(f"{len(marks)} ranges to highlight; send at most {MAX_MARKS}")
    for i, (start, end) in enumerate(marks):
        if not 0 <= start <= end <= len(text):
            raise InvalidInputError(
                f"range {i} ({start}, {end}) is not within the text: send 0 <= start <= end <= {len(text)} "
                "(character offsets)"
            )


def place_sentinels(text: str, marks: Sequence[tuple[int, int]]) -> str:
    """``text`` with range i's open sentinel at (about) its start and its close sentinel at its end."""
    inserts = []
    for i, (start, end) in enumerate(marks):
        inserts.append((_open_at(text, _off_link(text, start, forward=True)), 0, chr(SENTINEL_BASE + 2 * i)))
        inserts.append((_close_at(text, _off_link(text, end, forward=False)), 1, chr(SENTINEL_BASE + 2 * i + 1)))
    inserts.sort()
    pieces, last = [], 0
    for pos, _, char in inserts:
        pieces += [text[last:pos], char]
        last = pos
    pieces.append(text[last:])
    return "".join(pieces)


def _line(text: str, pos: int) -> tuple[int, int]:
    """Where the line holding ``pos`` starts and ends (its newline, or the end of the text)."""
    end = text.find("\n", pos)
    return text.rfind("\n", 0, pos) + 1, len(text) if end < 0 else end


def _off_link(text: str, pos: int, forward: bool) -> int:
    """``pos``, or where the link target around it ends (``forward``) or starts: marks are for text."""
    start, end = _line(text, pos)
    # a window, not the whole line: a line can be the whole text, and a target is not kilobytes long
    for target in LINK_TARGET.finditer(text, max(start, pos - LINK_WINDOW), min(end, pos + LINK_WINDOW)):
        if target.start() < pos < target.end():
            return target.end() if forward else target.start()
    return pos


def _is_syntax(text: str, start: int, end: int) -> bool:
    """Whether the line ``text[start:end]`` is syntax only, or blank after its markers."""
    return bool(SYNTAX_LINE.match(text, start, end) or SYNTAX_LINE.match(text, _prefix_end(text, start, end), end))


def _prefix_end(text: str, start: int, end: int) -> int:
    return LINE_PREFIX.match(text, start, end).end()


def _suffix_start(text: str, start: int, end: int) -> int:
    """Where the trailing pipes, hashes and blanks of the line ``text[start:end]`` start."""
    while end > start and text[end - 1] in " \t|#":
        end -= 1
    return end


def _open_at(text: str, pos: int) -> int:
    """``pos``, or the first place after it where a range may open: past a syntax line, a line's markers."""
    while pos < len(text):
        start, end = _line(text, pos)
        if not _is_syntax(text, start, end):
            pos = max(pos, _prefix_end(text, start, end))
            if pos < _suffix_start(text, start, end):
                return pos
        pos = end + 1  # nothing of this line is left to mark: the next one
    return len(text)


def _close_at(text: str, pos: int) -> int:
    """``pos``, or the last place before it where a range may close: before a line's markers, a syntax line."""
    while pos > 0:
        start, end = _line(text, pos)
        if not _is_syntax(text, start, end) and pos > _prefix_end(text, start, end):
            return min(pos, _suffix_start(text, start, end))
        pos = max(start - 1, 0)  # nothing of this line is marked: the end of the one before
    return 0


def wrap_marks(html: str, n_marks: int) -> tuple[str, bool]:
    """Turn the sentinels of ``html`` (rendered) into ``<mark>`` elements around each run of text they cover.

    A range whose open or close sentinel did not reach the HTML as text (one in a link target that
    :data:`LINK_TARGET` does not know, say) is dropped rather than left open to the end of the document.
    Only the stretch from the first sentinel to the last is walked: the rest is copied as it is.

    Returns:
        the HTML, and whether any mark was written.
    """
    found = list(RESERVED.finditer(html))
    codes = {ord(m.group()) - SENTINEL_BASE for m in found}
    wanted = [2 * i in codes and 2 * i + 1 in codes for i in range(n_marks)]
    if not any(wanted):
        return ENCODED_SENTINEL.sub("", RESERVED.sub("", html)), False
    begin = html.rfind(">", 0, found[0].start()) + 1  # the start of the text run of the first sentinel
    end = html.find("<", found[-1].end())
    end = len(html) if end < 0 else end
    marker = _Marker(wanted, _inline_after(html[html.rfind("<", 0, begin) : begin]))
    middle, marked = marker.run(html[begin:end])
    return html[:begin] + middle + html[end:], marked


def _inline_after(tag: str) -> bool:
    """Whether text after ``tag`` stands in phrasing content (where a ``<mark>`` may stand), not between blocks."""
    name = TAG_NAME.match(tag)
    if name is None:
        return False
    return name.group(1) in (INLINE_CLOSED if tag.startswith("</") else INLINE_OPENED)


class _Marker:
    """One pass over rendered HTML: the ranges open now, whether text here is inline, the output."""

    def __init__(self, wanted: list[bool], inline: bool) -> None:
        self.wanted = wanted
        self.state = [0] * len(wanted)  # 0: not opened yet, 1: open, 2: closed
        self.active: list[int] = []
        self.inline = inline
        self.named: set[int] = set()  # ranges whose first piece (with the id) is written
        self.out: list[str] = []

    def run(self, html: str) -> tuple[str, bool]:
        last = 0
        for match in HTML_PIECES.finditer(html):
            self.text(html[last : match.start()])
            piece = match.group()
            if len(piece) == 1:
                self.sentinel(ord(piece) - SENTINEL_BASE)
            else:
                piece = ENCODED_SENTINEL.sub("", RESERVED.sub("", piece))  # one in an attribute marks nothing
                self.inline = _inline_after(piece)
                self.out.append(piece)
            last = match.end()
        self.text(html[last:])
        return "".join(self.out), bool(self.named)

    def sentinel(self, code: int) -> None:
        i, closes = divmod(code, 2)
        if i >= len(self.wanted) or not self.wanted[i]:
            return
        if closes:
            self.state[i] = 2
            if i in self.active:
                self.active.remove(i)
        elif self.state[i] == 0:  # a close placed before its open (an empty range) leaves it closed
            self.state[i] = 1
            self.active = sorted([*self.active, i])

    def text(self, text: str) -> None:
        # whitespace between blocks (in a list, a table) takes no mark: <mark> may not stand there
        if not text or not self.active or (not self.inline and text.isspace()):
            self.out.append(text)
            return
        for i in self.active:
            first = "" if i in self.named else f' id="mark-{i}"'
            self.named.add(i)
            self.out.append(f'<mark class="cite" data-mark="{i}"{first}>')
        self.out += [text, "</mark>" * len(self.active)]
