"""Prompt-lookup drafting for speculative decoding, and when drafting pays.

Answers grounded in retrieved passages copy long spans of them. When the last
n generated tokens also occur earlier in the sequence (prompt or output), the
tokens that followed that earlier occurrence are a cheap guess for what comes
next. The decoder checks a whole guess with one forward pass and keeps the
longest prefix that greedy decoding would have produced itself, so the output
is unchanged and each pass yields one or more tokens.

A guess is not free: a pass over 1 + k tokens costs more than a pass over one.
:class:`DraftPolicy` therefore drafts only as much as is expected to pay. It
keeps an estimate ``p`` of the chance that a drafted token is accepted (each
token of a draft is accepted only if all before it were, so a draft of k is
worth ``p + p^2 + ... + p^k`` extra tokens) and the measured cost of a pass of
each length, and picks the k that maximises tokens per second; k = 0 (plain
decoding) whenever no draft is expected to gain at least ``margin``. While it
does not draft it keeps scoring the guesses it would have made against the
tokens actually generated ("shadow" drafts, which cost nothing), so it resumes
as soon as the text starts copying again.
"""

from __future__ import annotations

from collections.abc import Iterable


class PromptLookup:
    """An index of the n-grams of a growing token sequence.

    Args:
        max_ngram: longest n-gram matched (longer matches are tried first).
        min_ngram: shortest n-gram matched.
        max_draft: most tokens proposed at once.
    """

    def __init__(self, max_ngram: int = 3, min_ngram: int = 1, max_draft: int = 8) -> None:
        self.max_ngram, self.min_ngram, self.max_draft = max_ngram, min_ngram, max_draft
        self.tokens: list[int] = []
        # n-gram -> start of its latest occurrence that is followed by at least one token
        self._index: dict[tuple[int, ...], int] = {}

    def extend(self, tokens: Iterable[int]) -> None:
        """Append tokens to the sequence."""
        for token in tokens:
            self.tokens.append(token)
            end = len(self.tokens) - 1  # the n-grams ending just before the new token now have a follower
            for n in range(self.min_ngram, self.max_ngram + 1):
                if end - n >= 0:
                    self._index[tuple(self.tokens[end - n : end])] = end - n

    def draft(self, limit: int | None = None) -> list[int]:
        """Tokens that followed the latest earlier occurrence of the longest matching suffix ([] if none)."""
        limit = self.max_draft if limit is None else min(limit, self.max_draft)
        if limit <= 0:
            return []
        for n in range(self.max_ngram, self.min_ngram - 1, -1):
            if len(self.tokens) < n:
                continue
            start = self._index.get(tuple(self.tokens[-n:]))
            if start is not None:
                return self.tokens[start + n : start + n + limit]
        return []


class DraftPolicy:
    """How many of a candidate draft's tokens to verify, from acceptance and measured pass costs.

    Args:
        max_draft: most tokens drafted at once.
        margin: a draft must be expected to give at least this many times the
            tokens per second of plain decoding.
        decay: weight the acceptance estimate keeps of old observations at each new one.
        prior_cost: assumed cost of each extra token of a pass, relative to a
            one-token pass, until passes of that length are measured.
    """

    def __init__(self, max_draft: int = 8, margin: float = 1.1, decay: float = 0.9, prior_cost: float = 0.5) -> None:
        self.max_draft, self.margin, self.decay, self.prior_cost = max_draft, margin, decay, prior_cost
        self._accepted = 1.0  # decayed counts of accepted and rejected draft tokens (prior p = 0.5)
        self._rejected = 1.0
        self._seconds: dict[int, list[float]] = {}  # pass length -> its last few durations
        self._shadow: list[int] = []

    @property
    def acceptance(self) -> float:
        """The estimated chance that the next drafted token is accepted."""
        return self._accepted / (self._accepted + self._rejected)

    def _typical(self, length: int) -> float | None:
        times = self._seconds.get(length)
        return sorted(times)[len(times) // 2] if times else None

    def cost(self, length: int, one: float | None = None) -> float:
        """Seconds of a pass over ``length`` tokens relative to a one-token pass (measured or assumed).

        ``one`` is the one-token time when the caller has it already.
        """
        one = one if one is not None else self._typical(1)
        if length == 1:
            return 1.0
        if one and length in self._seconds:
            return self._typical(length) / one
        measured = [(n, self._typical(n) / one) for n in self._seconds if one and n > 1]
        if measured:  # a straight line through the nearest measured length
            n, c = min(measured, key=lambda item: abs(item[0] - length))
            return 1.0 + (c - 1.0) * (length - 1) / (n - 1)
        return 1.0 + self.prior_cost * (length - 1)

    def length(self, available: int) -> int:
        """How many of ``available`` candidate tokens to draft now (0: decode plainly)."""
        p = self.acceptance
        best, best_gain, expected, term = 0, self.margin, 0.0, 1.0
        one = self._typical(1)
        for k in range(1, min(available, self.max_draft) + 1):
            term *= p
            expected += term
            if 1.0 + expected <= best_gain:  # cannot gain enough even if the pass cost nothing extra
                continue
            gain = (1.0 + expected) / self.cost(1 + k, one)
            if gain > best_gain:
                best, best_gain = k, gain
        return best

    def observe_pass(self, length: int, seconds: float) -> None:
        """Record how long a forward pass over ``length`` tokens took (the median of the last 5 is used)."""
        times = self._seconds.setdefault(length, [])
        times.append(seconds)
        del times[:-5]

    def observe_draft(self, drafted: int, accepted: int) -> None:
        """Record a verified draft: ``accepted`` of its ``drafted`` tokens were confirmed."""
        for _ in range(accepted):
            self._count(True)
        if accepted < drafted:
            self._count(False)

    def shadow(self, candidate: list[int]) -> None:
        """A draft that was not verified; it is scored against the tokens that follow (:meth:`generated`)."""
        if not self._shadow:
            self._shadow = list(candidate)

    def generated(self, token: int) -> None:
        """A token produced by plain decoding; scores the pending shadow draft."""
        if not self._shadow:
            return
        if self._shadow[0] == token:
            self._count(True)
            self._shadow.pop(0)
        else:
            self._count(False)
            self._shadow = []

    def _count(self, accepted: bool) -> None:
        self._accepted *= self.decay
        self._rejected *= self.decay
        if accepted:
            self._accepted += 1.0
        else:
            self._rejected += 1.0
