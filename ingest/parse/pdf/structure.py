"""The structure put back on a PDF's page texts: hyphenation undone, outline headings as sections.

Line-end hyphenation is undone when both sides are lowercase letters, unless
the document also spells the pair with a hyphen elsewhere (``well-known``),
which marks a real compound. Headings come from the outline (bookmarks): a
page is split where an outline title starts a line, and the heading path is
the outline's nesting.
"""

from __future__ import annotations

import re

from pypdf import PdfReader

from ..common import MAX_HEADING_CHARS, clip_heading

LIGATURES = str.maketrans({"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"})
# The lookbehind starts a match only at a word's first letter: without it a long run of letters
# with no hyphen is rescanned from every position (quadratic; minutes for one 10 MB "word").
_HYPHENATED = re.compile(r"(?<![^\W\d_])([^\W\d_]+)-\n([^\W\d_]+)")
_WORDS = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")


def dehyphenate(pages: list[str]) -> list[str]:
    """Join ``exam-\\nple`` into ``example`` unless ``exam-ple`` is a compound elsewhere in the document."""
    unbroken = "\n".join(_HYPHENATED.sub(" ", page) for page in pages)
    compounds = {w.lower() for w in _WORDS.findall(unbroken) if "-" in w}

    def join(match: re.Match) -> str:
        left, right = match.group(1), match.group(2)
        if not (left[-1].islower() and right[0].islower()):
            return match.group(0)
        return f"{left}-{right}" if f"{left}-{right}".lower() in compounds else left + right

    return [_HYPHENATED.sub(join, page) for page in pages]


def outline(reader: PdfReader) -> dict[int, list[tuple[str, ...]]]:
    """Heading paths of the outline, grouped by 0-based page; empty when there is none or it is broken."""
    by_page: dict[int, list[tuple[str, ...]]] = {}

    def walk(items: list, parents: tuple[str, ...]) -> None:
        last = parents
        for item in items:
            if isinstance(item, list):
                walk(item, last)
                continue
            title = clip_heading(" ".join(str(item.title or "")[: 4 * MAX_HEADING_CHARS].split()))
            page = reader.get_destination_page_number(item)
            if title and page is not None and page >= 0:
                last = (*parents, title)
                by_page.setdefault(page, []).append(last)

    try:
        walk(reader.outline, ())
    except Exception:  # a broken outline only costs the headings
        return {}
    return by_page


def split_at_headings(page: str, headings: list[tuple[str, ...]], path: tuple[str, ...]):
    """Yield ``(segment, heading_path)`` pieces of a page, cut where an outline title starts a line.

    A heading whose title is not found takes effect where the previous one
    ended (the page start if it is the first), so its path is never lost.
    """
    cursor = 0
    for heading in headings:
        words = r"\s+".join(re.escape(w) for w in heading[-1].translate(LIGATURES).split())
        found = re.compile(rf"^(?:[\dIVXivx]+(?:\.\d+)*\.?\s+)?{words}\s*$", re.MULTILINE).search(page, cursor)
        if found is not None and found.start() > cursor:
            yield page[cursor : found.start()], path
            cursor = found.start()
        path = heading
    yield page[cursor:], path
