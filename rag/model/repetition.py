"""Degenerate repetition: end an answer that has started to copy itself.

A 135M model decoding greedily sometimes falls into a loop and writes one
sentence again and again until the token limit. :class:`RepetitionStop`
watches the generated tokens and reports the moment the same ``ngram`` tokens
occur for the ``count``-th time (occurrences may overlap, so a short loop is
caught too, once ``ngram`` tokens of it have come round again). The answer is
then cut back to just before the second copy began: the loop's text survives
once.

Only generated tokens count, never the prompt: an answer grounded in passages
copies long spans of them on purpose.

The cut removes tokens that were already generated, so a stream must not have
released them yet. :attr:`RepetitionStop.safe` says how many leading tokens
no later cut can remove: everything before the longest suffix that occurred
earlier (the beginning of a copy in the making) and, when ``count > 2``,
before the earliest second copy seen. On text that does not repeat itself this
holds back a token or two (a space, "the", a comma).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from core.errors import ConfigError


class RepetitionStop:
    """Finds the ``count``-th occurrence of an n-gram in a growing token sequence.

    Args:
        ngram: length of the repeated span, in tokens (at least 2).
        count: occurrences of the same span that end generation (at least 2; 2 stops at the second copy).

    Attributes:
        tokens: the tokens pushed so far.
        keep: after the stop, how many leading tokens survive the cut (None before).
    """

    def __init__(self, ngram: int, count: int = 2) -> None:
        if ngram < 2:
            raise ConfigError(f"the repeat n-gram must be at least 2 tokens, got {ngram}")
        if count < 2:
            raise ConfigError(f"the repeat count must be at least 2 (the second copy), got {count}")
        self.ngram, self.count = ngram, count
        self.tokens: list[Hashable] = []
        self.keep: int | None = None
        self._starts: dict[tuple, list[int]] = {}  # ngram-long span -> where its occurrences start
        self._shorter: set[tuple] = set()  # every span shorter than ngram seen so far
        self._suffix = 0  # longest suffix (< ngram tokens) that also occurs earlier
        self._held: int | None = None  # start of the earliest second copy seen (count > 2)

    @property
    def stopped(self) -> bool:
        return self.keep is not None

    @property
    def safe(self) -> int:
        """How many leading tokens no later cut can remove (all of ``keep`` once stopped)."""
        if self.keep is not None:
            return self.keep
        safe = len(self.tokens) - self._suffix
        return safe if self._held is None else min(safe, self._held)

    def push(self, token: Hashable) -> bool:
        """Add one token; True when it completes the ``count``-th occurrence (then :attr:`keep` is set)."""
        if self.keep is not None:
            raise ConfigError("the repetition stop has already fired; start a new RepetitionStop")
        tokens, n = self.tokens, self.ngram
        tokens.append(token)
        end = len(tokens)
        for k in range(min(self._suffix + 1, n - 1, end - 1), 0, -1):  # a suffix grows by at most one token
            if tuple(tokens[end - k :]) in self._shorter:
                self._suffix = k
                break
        else:
            self._suffix = 0
        self._shorter.update(tuple(tokens[end - k :]) for k in range(1, min(n - 1, end) + 1))
        if end < n:
            return False
        starts = self._starts.setdefault(tuple(tokens[end - n :]), [])
        starts.append(end - n)
        if len(starts) == 2 and self.count > 2:
            second = self._copy_start(starts[0], starts[1])
            self._held = second if self._held is None else min(self._held, second)
        if len(starts) >= self.count:
            self.keep = self._copy_start(starts[0], starts[1])
            return True
        return False

    def _copy_start(self, first: int, second: int) -> int:
        """Where the second copy begins: ``second``, moved back while tokens still equal those one period earlier."""
        period, start = second - first, second
        while start - 1 - period >= 0 and self.tokens[start - 1] == self.tokens[start - 1 - period]:
            start -= 1
        return start


def repetition_cut(tokens: Sequence[Hashable], ngram: int, count: int = 2) -> int | None:
    """After the fact: how many leading ``tokens`` survive the repetition stop, or None when it never fires.

    For backends that cannot stop their own decoding loop (transformers, llama.cpp): they
    generate to the end and trim. The result equals what :class:`RepetitionStop` gives token by token.
    """
    stop = RepetitionStop(ngram, count)
    for token in tokens:
        if stop.push(token):
            return stop.keep
    return None
