"""The numbers check: every number of an answer sentence must occur in a source (a passage or a tool result).

Token similarity barely moves when a number changes ("20 days" scores like "45 days"),
and a small model adds arithmetic of its own ("214 + 2 = 238 grey seals" after a passage
said 214): so numbers are compared as values, not as words. Before they are compared
they are normalised: thousands separators go ("2,340" is 2340), a decimal's trailing zeros
go ("1,310.00" is 1310, "253.640" is 253.64), leading zeros go ("03" is 3) and a percent
sign is not part of the number ("17.5%" is 17.5). A comma is a thousands separator only
between groups of three digits ("1,5" is two numbers, 1 and 5). Signs are ignored: "-3"
and "3" are one number, as a sentence may write "a loss of 3" for "-3". The number of a
numbered list item ("2. Run the build") is the list's, not a claim: it is not a number.

:mod:`rag.pipeline.support` uses it twice: a passage supports a sentence only when it
holds every number of the sentence, and an unsupported sentence with a number that no
source holds says so (:data:`NUMBER_NOT_IN_SOURCES`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal

NUMBER_NOT_IN_SOURCES = "number not in sources"

# A number not glued to a preceding digit or dot ("v1.2.3" yields 1.2 only): grouped thousands
# (1,310.00) when the groups are whole, else plain digits with an optional fraction.
_NUMBER = re.compile(r"(?<![\d.])(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?")
# A numbered list item's marker at the start of a line: "1. ", "12) " (three digits at most: "1707. " is a year).
_LIST_MARKER = re.compile(r"(?m)^[ \t]*\d{1,3}[.)](?=[ \t])")


def normalise(number: str) -> str:
    """One number as written ("1,310.00") in its canonical form ("1310")."""
    return format(Decimal(number.replace(",", "")).normalize(), "f")


def numbers_in(text: str) -> frozenset[str]:
    """The numbers of ``text``, normalised (see the module docstring): "3,776 m in 1707." -> {"3776", "1707"}."""
    return frozenset(normalise(m.group()) for m in _NUMBER.finditer(_LIST_MARKER.sub("", text)))


def missing_numbers(sentence: str, sources: Iterable[str | frozenset[str]]) -> tuple[str, ...]:
    """The numbers of ``sentence`` that no source holds, normalised, in the order the sentence has them.

    Args:
        sentence: one answer sentence (markers removed: "[2]" would count as a number).
        sources: the texts the answer was written from (passages and tool results), or their
            :func:`numbers_in` sets, computed once per answer.
    """
    held: set[str] = set()
    for source in sources:
        held |= source if isinstance(source, frozenset) else numbers_in(source)
    wanted = dict.fromkeys(normalise(m.group()) for m in _NUMBER.finditer(_LIST_MARKER.sub("", sentence)))
    return tuple(n for n in wanted if n not in held)
