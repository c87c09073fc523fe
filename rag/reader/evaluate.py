"""The reader on gold contexts: EM and F1 of its best span, and how well its margin separates "no answer".

Also the calibration arithmetic shared with ``rag eval qa``: the balanced accuracy of
"answer when margin >= t" and the slope of the logistic that turns a margin into a
probability (:func:`fit_scale`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from rag.metrics import best_threshold, exact_match, token_f1
from rag.reader.data import QAExample
from rag.reader.model import SpanReader
from rag.reader.read import passage_spans, window_spans


def predict(model: SpanReader, examples: Sequence[QAExample]) -> list[tuple[str, float]]:
    """Per example: the best span's text in its own context and its margin (span score - null score)."""
    spans = passage_spans(
        window_spans(model, [e.question for e in examples], [e.context for e in examples]), len(examples)
    )
    return [("", -np.inf) if s is None else (e.context[s.start : s.end], s.margin) for e, s in zip(examples, spans)]


def evaluate_examples(
    model: SpanReader,
    examples: Sequence[QAExample],
    threshold: float | None = None,
    references: Mapping[str, tuple[str, ...]] | None = None,
) -> dict:
    """EM/F1 of the best span on answerable examples (no abstention), and the best balanced accuracy of
    "answer when margin >= t" with its threshold ``t``; see :func:`score_predictions` for the arguments."""
    return score_predictions(examples, predict(model, examples), threshold, references)


def score_predictions(
    examples: Sequence[QAExample],
    preds: Sequence[tuple[str, float]],
    threshold: float | None = None,
    references: Mapping[str, tuple[str, ...]] | None = None,
) -> dict:
    """The scores of :func:`evaluate_examples` from :func:`predict`'s output.

    Args:
        examples, preds: the examples and, per example, the predicted text and its margin.
        threshold: also report, at this margin threshold (the shipped one), the share of answerable
            examples answered, of unanswerable ones abstained on, and their mean.
        references: every reference answer per example id (SQuAD dev has up to five; EM/F1 take the
            best); default the example's own ``answer_text``.
    """
    answerable = [(p, e) for p, e in zip(preds, examples) if e.answer_start is not None]
    margins_pos = np.array([p[1] for p, _ in answerable])
    margins_neg = np.array([p[1] for p, e in zip(preds, examples) if e.answer_start is None])

    def gold(e: QAExample) -> tuple[str, ...]:
        return tuple(references[e.id]) if references is not None else (e.answer_text,)

    em = np.mean([exact_match(p[0], gold(e)) for p, e in answerable]) if answerable else 0.0
    f1 = np.mean([token_f1(p[0], gold(e)) for p, e in answerable]) if answerable else 0.0
    both = len(margins_pos) and len(margins_neg)
    t, acc = best_threshold(margins_pos, margins_neg) if both else (0.0, 0.0)
    out = {
        "em": round(float(em), 4),
        "f1": round(float(f1), 4),
        "null_threshold": round(t, 3),
        "null_balanced_accuracy": round(acc, 4),
        "answerable": len(answerable),
        "unanswerable": len(margins_neg),
    }
    if threshold is not None:
        out["shipped_threshold"] = threshold
        if len(margins_pos):
            out["shipped_answered"] = round(float((margins_pos >= threshold).mean()), 4)
        if len(margins_neg):
            out["shipped_abstained"] = round(float((margins_neg < threshold).mean()), 4)
        if both:
            out["shipped_balanced_accuracy"] = round(balanced_accuracy(margins_pos, margins_neg, threshold), 4)
    return out


def balanced_accuracy(pos: np.ndarray, neg: np.ndarray, threshold: float) -> float:
    """Mean of the share of ``pos`` at or over ``threshold`` (answered) and of ``neg`` under it (abstained on)."""
    return float(((np.asarray(pos) >= threshold).mean() + (np.asarray(neg) < threshold).mean()) / 2)


def fit_scale(margins: np.ndarray, labels: np.ndarray, threshold: float, ridge: float = 1e-3) -> float:
    """The slope ``s >= 0`` of ``p = sigmoid(s * (margin - threshold))`` with the least log loss on ``labels``.

    A one-parameter logistic regression: the threshold stays where balanced accuracy put it
    (``p = 0.5`` there), so the probability and the abstention decision agree. Infinite
    margins (no span at all) are decided whatever ``s`` is and are left out. ``ridge``
    (times the number of points) keeps ``s`` finite when the margins separate the labels.

    Args:
        margins: float (n,) span score minus null score per question.
        labels: bool (n,) whether the question has an answer in what was read.
        threshold: the margin of ``p = 0.5``.
    """
    margins, labels = np.asarray(margins, dtype=np.float64), np.asarray(labels, dtype=np.float64)
    keep = np.isfinite(margins)
    z, y = margins[keep] - threshold, labels[keep]
    if len(z) == 0 or not np.any(z):
        return 0.0
    lam = ridge * len(z)

    def slope(s: float) -> float:  # d(loss)/ds; increasing in s (the loss is convex)
        return float(np.sum((1.0 / (1.0 + np.exp(-np.clip(s * z, -60, 60))) - y) * z) + lam * s)

    if slope(0.0) >= 0:  # margins do not rise with the labels: no slope helps
        return 0.0
    hi = 1.0
    while slope(hi) < 0:
        hi *= 2
    lo = 0.0 if hi == 1.0 else hi / 2
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if slope(mid) < 0 else (lo, mid)
    return (lo + hi) / 2
