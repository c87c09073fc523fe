"""A byte automaton whose outputs are word-aligned spans copied from given texts (extractive answers).

:class:`SpanMachine` is a :class:`~rag.model.constraints.ByteMachine` built on a
suffix automaton (Blumer et al. 1985): the minimal automaton that accepts every
substring of a text, in at most ``2n`` states for ``n`` bytes, built in linear
time. Several texts are joined with separator symbols above 255, which no
output byte can match, so no accepted span crosses from one text into the next.

A span must start and end on word boundaries, so that the model cannot copy
half a word ("arlemagne"):

* Each text's whitespace is collapsed to single spaces and a space is put in
  front; an output must start with that space, so its first word starts where a
  word of the text starts. Callers strip the leading space (see :func:`span_of`).
* A state is accepting only when some occurrence of the span it stands for ends
  before a character that is not a letter or digit (or at the end of a text).

States are plain ints (hashable, so :class:`~rag.model.constraints.TokenConstraint`
memoises masks per state): the automaton's state, or its complement (``~s``,
negative) right after the leading space, where the output may not yet end. A
state stands for a class of substrings, not one length, so the automaton
cannot bound the output's length: the caller's token budget does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from indexes.errors import ConfigError

_SPACE = re.compile(r"\s+")


def normalize_space(text: str) -> str:
    """``text`` with each run of whitespace made one space and no space at either end."""
    return _SPACE.sub(" ", text).strip()


class SpanMachine:
    """Outputs that are ``" " + span``, where span is a word-aligned substring of one of ``texts``.

    Args:
        texts: the texts to copy from (passages), in any number.
    """

    def __init__(self, texts: Sequence[str]) -> None:
        if not any(t.strip() for t in texts):
            raise ConfigError("SpanMachine needs at least one non-blank text to copy from")
        self._next: list[dict[int, int]] = [{}]  # transitions per state
        self._link = [-1]  # suffix links
        self._len = [0]  # length of the longest string of each state
        self._boundary = [False]  # some occurrence ends at a word boundary
        for i, text in enumerate(texts):
            data = (" " + normalize_space(text)).encode("utf-8")
            if len(data) == 1:
                continue
            last = 0
            for j, byte in enumerate(data):
                last = self._extend(last, byte)
                if j + 1 == len(data) or not _word_byte(data[j + 1]) or not _word_byte(byte):
                    self._boundary[last] = True
            last = self._extend(last, 256 + i)  # separator: matched by no byte
        # An occurrence ending at a boundary also ends the shorter strings of the states on its suffix-link path.
        for state in sorted(range(1, len(self._len)), key=self._len.__getitem__, reverse=True):
            if self._boundary[state] and self._link[state] > 0:
                self._boundary[self._link[state]] = True

    def _extend(self, last: int, symbol: int) -> int:
        """Add one symbol to the automaton (the standard online construction); returns the new last state."""
        cur = len(self._len)
        self._next.append({})
        self._len.append(self._len[last] + 1)
        self._link.append(0)
        self._boundary.append(False)
        p = last
        while p != -1 and symbol not in self._next[p]:
            self._next[p][symbol] = cur
            p = self._link[p]
        if p != -1:
            q = self._next[p][symbol]
            if self._len[p] + 1 == self._len[q]:
                self._link[cur] = q
            else:
                clone = len(self._len)
                self._next.append(dict(self._next[q]))
                self._len.append(self._len[p] + 1)
                self._link.append(self._link[q])
                self._boundary.append(False)
                while p != -1 and self._next[p].get(symbol) == q:
                    self._next[p][symbol] = clone
                    p = self._link[p]
                self._link[q] = self._link[cur] = clone
        return cur

    # -- ByteMachine ----------------------------------------------------------
    def initial(self) -> int:
        return 0

    def step(self, state: int, byte: int) -> int | None:
        if state == 0:
            nxt = self._next[0].get(byte) if byte == 0x20 else None  # the output starts with a space
            return None if nxt is None else ~nxt
        return self._next[~state if state < 0 else state].get(byte)

    def accepting(self, state: int) -> bool:
        # more than the leading space (state >= 0 after it), and ending where a word ends
        return state > 0 and self._boundary[state]


def _word_byte(byte: int) -> bool:
    """Whether a UTF-8 byte belongs to a word: ASCII letters and digits, and every byte of a non-ASCII character."""
    return byte >= 0x80 or chr(byte).isalnum()


def span_of(output: str, texts: Sequence[str]) -> tuple[int, int, int] | None:
    """Where an output of :class:`SpanMachine` occurs: ``(text index, start, end)`` in the original text.

    The output's words are matched with any run of whitespace between them, so
    the span points into the text as stored (newlines and double spaces kept).
    None when the output occurs in none of the texts.
    """
    words = output.split()
    if not words:
        return None
    body = r"\s+".join(re.escape(w) for w in words)
    start = r"(?<!\w)" if re.match(r"\w", words[0]) else ""
    end = r"(?!\w)" if re.search(r"\w$", words[-1]) else ""
    pattern = re.compile(start + body + end)
    for i, text in enumerate(texts):
        found = pattern.search(text)
        if found:
            return i, found.start(), found.end()
    return None
