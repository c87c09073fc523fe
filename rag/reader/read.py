"""Read passages with the span reader: every window in batches, the best span of each passage."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from rag.reader.model import SpanReader
from rag.reader.spans import MAX_ANSWER_TOKENS, WindowSpan, best_span
from rag.reader.windows import MAX_LENGTH, STRIDE, Window, collate, make_windows, question_head

BATCH_SIZE = 16  # windows per forward pass


def window_spans(
    model: SpanReader, questions: Sequence[str], passages: Sequence[str], batch_size: int = BATCH_SIZE
) -> list[WindowSpan]:
    """The best span of every window of ``(questions[k], passages[k])``; ``WindowSpan.passage`` is ``k``."""
    heads = {q: question_head(model.tokenizer, q) for q in set(questions)}
    windows = make_windows(model.tokenizer, [heads[q] for q in questions], passages, MAX_LENGTH, STRIDE)
    order = sorted(range(len(windows)), key=lambda w: len(windows[w].input_ids))
    out: list[WindowSpan | None] = [None] * len(windows)
    with torch.inference_mode():
        for lo in range(0, len(order), batch_size):
            idx = order[lo : lo + batch_size]
            batch: list[Window] = [windows[w] for w in idx]
            start, end = model(**collate(batch))
            start, end = start.numpy(), end.numpy()
            for r, w in enumerate(idx):
                out[w] = best_span(windows[w], start[r], end[r], MAX_ANSWER_TOKENS)
    return [s for s in out if s is not None]


def passage_spans(spans: Sequence[WindowSpan], n: int) -> list[WindowSpan | None]:
    """Per passage (``0..n-1``): its best-scoring span, with the lowest null score of its windows."""
    best: list[WindowSpan | None] = [None] * n
    null = np.full(n, np.inf)
    for s in spans:
        null[s.passage] = min(null[s.passage], s.null)
        if best[s.passage] is None or s.score > best[s.passage].score:
            best[s.passage] = s
    return [
        None if b is None else WindowSpan(b.passage, b.start, b.end, b.score, float(null[k]))
        for k, b in enumerate(best)
    ]


def read(
    model: SpanReader, question: str, passages: Sequence[str], batch_size: int = BATCH_SIZE
) -> list[WindowSpan | None]:
    """The best span of each passage for ``question`` (None for an empty passage)."""
    spans = window_spans(model, [question] * len(passages), passages, batch_size)
    return passage_spans(spans, len(passages))
