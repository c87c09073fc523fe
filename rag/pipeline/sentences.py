"""Sentence splitting for answers: character spans, no dependencies.

A full stop ends a sentence only when whitespace (or the end of the text)
follows it, so decimals (``79.8``), versions (``v1.2.3``), URLs and e-mail
addresses stay whole. A stop followed by a lowercase word does not end one, nor
does a full stop after an abbreviation (``e.g.``, ``Dr.``, ``Fig.``), an
initial (``J. R. R. Tolkien``) or a list label at the start of a line (``1.``).
A blank line, a list item or a Markdown heading ends a sentence; a single
newline inside a paragraph does not. Closing quotes and brackets after the
stop, and citation markers such as ``[1]`` right after it, belong to the
sentence they close.

This is a heuristic, not a trained model. Known misses: an abbreviation in
``_ALWAYS`` or an initial never ends a sentence ("vitamin C. The ..." stays
one), and a dotted short form before a capital always does ("U.S. Army").
"""

from __future__ import annotations

import re

_CLOSERS = "\"'”’»)]}」』）】"
_OPENERS = "\"'“‘«([{「『（【"
# A run of terminal punctuation, the closers after it and any citation markers
# the model put after the stop ("in Paris.[1] The").
_TERMINAL = re.compile(rf"(?P<stops>[.!?…]+|[。！？]+)[{re.escape(_CLOSERS)}]*(?:[ \t]*\[\d+(?:\s*[,;]\s*\d+)*\])*")
_FINAL = re.compile(rf"(?P<stops>[.!?…]+|[。！？]+)[{re.escape(_CLOSERS)}]*$")
_ROMAN = r"(?=[ivx])x{0,3}(?:ix|iv|v?i{0,3})|(?=[IVX])X{0,3}(?:IX|IV|V?I{0,3})"
# A list label at the start of a line: "1." "2)" "b." "iv.".
_LABEL = re.compile(rf"\d{{1,3}}|[A-Za-z]|{_ROMAN}")
# Lines that start a new sentence whatever came before: list items and headings.
_ITEM = re.compile(rf"[ \t]*(?:[-*+•‣◦]|(?:\d{{1,3}}|[A-Za-z]|{_ROMAN})[.)])[ \t]+\S")
_HEADING = re.compile(r"[ \t]*#{1,6}[ \t]")
# Dotted short forms: "U.S", "a.m", "Ph.D", "z.B" (without the stop being judged).
_DOTTED = re.compile(r"[^\W\d_]{1,2}(?:\.[^\W\d_]{1,2})+")
# Never end a sentence: a name or a number follows these.
_ALWAYS = frozenset(
    "e.g i.e cf vs viz approx ca dr mr mrs ms mme mlle prof st mt fig figs eq eqs sec secs ch chap ref refs "
    "vol vols pp ed eds tab gen capt col lt sgt rev hon dept univ nr bzw usw".split()
)
# May close a sentence: they end one only before a capitalised word.
_AMBIGUOUS = frozenset("etc al inc ltd co corp jr sr jan feb mar apr jun jul aug sep sept oct nov dec".split())
# Ordinary words, or letters, that abbreviate only before a number: "No. 5", "p. 12".
_BEFORE_NUMBER = frozenset("no nos p".split())


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Split text into sentences.

    Args:
        text: any text, typically a generated answer; may hold newlines,
            Markdown lists and non-ASCII letters.

    Returns:
        ``(start, end)`` character offsets, one pair per sentence, in order and
        not overlapping. Each span starts and ends on a non-space character and
        only whitespace lies between spans, so together they hold every
        non-space character of ``text`` exactly once. Empty for blank text.
    """
    cuts = set(_line_cuts(text)) | {m.end() for m in _TERMINAL.finditer(text) if _ends_sentence(text, m)}
    spans, start = [], 0
    for cut in [*sorted(cuts), len(text)]:
        piece = text[start:cut]
        stripped = piece.strip()
        if stripped:
            left = start + len(piece) - len(piece.lstrip())
            spans.append((left, left + len(stripped)))
        start = cut
    return spans


def marker_position(sentence: str) -> int:
    """Where a citation marker goes in a sentence.

    Args:
        sentence: one sentence, as a span of :func:`split_sentences` gives it.

    Returns:
        The offset of the sentence-final punctuation (and the closers after
        it), so that "in Paris." becomes "in Paris [1]."; the length of the
        sentence when it has no final punctuation or when its final full stop
        belongs to an abbreviation ("etc." becomes "etc. [1]").
    """
    match = _FINAL.search(sentence)
    if not match:
        return len(sentence)
    word = _word_before(sentence, match.start())
    if match.group("stops") == "." and (word.lower() in _ALWAYS | _AMBIGUOUS or _DOTTED.fullmatch(word)):
        return len(sentence)  # the stop is part of the word; a lone capital ("vitamin C.") is not
    return match.start()


def _line_cuts(text: str) -> list[int]:
    """Offsets where the line structure starts a new sentence."""
    cuts, offset = [], 0
    for line in text.splitlines(keepends=True):
        heading = _HEADING.match(line)
        if not line.strip() or heading or _ITEM.match(line):
            cuts.append(offset)
        offset += len(line)
        if heading:
            cuts.append(offset)
    return cuts


def _ends_sentence(text: str, match: re.Match[str]) -> bool:
    """Whether a run of terminal punctuation closes its sentence."""
    stops, end = match.group("stops"), match.end()
    if stops[0] in "。！？":
        return True  # CJK text puts no space after a stop
    if end < len(text) and not text[end].isspace():
        return False  # inside a token: 79.8, v1.2.3, example.com, "e.g.,"
    following = text[end:].lstrip().lstrip(_OPENERS)
    if not following:
        return True
    if following[0].islower():
        return False  # "e.g. the", "Wait... what", '"Why?" she asked'
    if stops != ".":
        return True  # "?", "!" or an ellipsis before a capital, a digit, a symbol
    word = _word_before(text, match.start())
    if _LABEL.fullmatch(word) and _at_line_start(text, match.start() - len(word)):
        return False  # "1. First item"
    kind = _abbreviation(word)
    if kind == "always":
        return False  # "Dr. Smith", "Fig. 3", "J. R. R. Tolkien"
    if kind == "before number":
        return not following[0].isdigit()  # "No. 5" but "The answer is no. Then"
    if kind == "ambiguous":
        return following[0].isupper()  # "et al. (2020)" but "and so on, etc. The"
    return True


def _abbreviation(word: str) -> str | None:
    """How a word followed by a full stop may abbreviate: None when it does not."""
    key = word.lower()
    if key in _ALWAYS or (len(word) == 1 and word.isupper() and word != "I"):
        return "always"
    if key in _BEFORE_NUMBER:
        return "before number"
    if key in _AMBIGUOUS or _DOTTED.fullmatch(word):
        return "ambiguous"
    return None


def _word_before(text: str, index: int) -> str:
    """The token that ends at ``index``, without its opening quotes or brackets."""
    start = index
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    return text[start:index].lstrip(_OPENERS)


def _at_line_start(text: str, index: int) -> bool:
    line_start = text.rfind("\n", 0, index) + 1
    return not text[line_start:index].strip(" \t" + _OPENERS)
