"""The best answer span of a window from its start and end logits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rag.reader.windows import Window

MAX_ANSWER_TOKENS = 30  # longest span considered, in tokens
TOP_K = 20  # starts and ends considered per window


@dataclass(frozen=True)
class WindowSpan:
    """The best span of one window: characters of its passage, its score and the window's null score."""

    passage: int
    start: int  # characters [start, end) of the passage
    end: int
    score: float  # start logit + end logit
    null: float  # the same at [CLS]: the window's "no answer" score

    @property
    def margin(self) -> float:
        """How much the span beats "no answer" in this window."""
        return self.score - self.null


def best_span(
    window: Window, start: np.ndarray, end: np.ndarray, max_tokens: int = MAX_ANSWER_TOKENS
) -> WindowSpan | None:
    """The highest ``start[i] + end[j]`` over passage tokens ``i <= j < i + max_tokens``.

    None if the window holds no passage token.
    """
    inside = np.array([o is not None for o in window.offsets] + [False] * (len(start) - len(window.offsets)))
    if not inside.any():
        return None
    s = np.where(inside, start, -np.inf)
    e = np.where(inside, end, -np.inf)
    k = min(TOP_K, int(inside.sum()))
    starts = np.argpartition(-s, k - 1)[:k]
    ends = np.argpartition(-e, k - 1)[:k]
    best = None
    for i in starts:
        for j in ends:
            if j < i or j - i + 1 > max_tokens:
                continue
            v = float(s[i] + e[j])
            if best is None or v > best[0]:
                best = (v, int(i), int(j))
    if best is None:  # every top end precedes every top start: take the best single token
        i = int(np.argmax(s + e))
        best = (float(s[i] + e[i]), i, i)
    a, b = window.char_span(best[1], best[2])
    return WindowSpan(window.passage, a, b, best[0], float(start[0] + end[0]))
