"""Ranking metrics over document ids, as trec_eval (and so BEIR) computes them, and answer metrics as SQuAD's.

Shared by the reranker's training (:mod:`rag.training.rerank.evaluate`) and the
evaluations (:mod:`rag.eval`) and the benchmark scripts.
"""

from __future__ import annotations

import collections
import math
import re
import string

import numpy as np


def ndcg_at(ranked_ids: list[str], gains: dict[str, float], k: int) -> float:
    """nDCG@k as trec_eval computes it (and so BEIR): linear gains, ``log2(rank + 1)`` discount.

    Args:
        ranked_ids: document ids, best first (only the first ``k`` count).
        gains: judged documents and their graded relevance; gains <= 0 count as 0.
    Returns:
        DCG of the ranking over the DCG of the ideal ranking of all positive gains
        (0.0 when the query has none).
    """
    dcg = sum(max(gains.get(d, 0.0), 0.0) / math.log2(rank + 2) for rank, d in enumerate(ranked_ids[:k]))
    ideal = sorted((g for g in gains.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(rank + 2) for rank, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_docs(ranked_ids: list[str], relevant: set[str], k: int) -> float:
    """Fraction of the relevant documents found among the first ``k`` (0.0 when none is relevant)."""
    if not relevant:
        return 0.0
    return len(set(ranked_ids[:k]) & relevant) / len(relevant)


def mrr_at(ranked_ids: list[str], relevant: set[str], k: int) -> float:
    """1 / rank of the first relevant document among the first ``k``, else 0.0."""
    for rank, d in enumerate(ranked_ids[:k], start=1):
        if d in relevant:
            return 1.0 / rank
    return 0.0


def best_threshold(pos: np.ndarray, neg: np.ndarray, values: np.ndarray | None = None) -> tuple[float, float]:
    """The threshold with the best balanced accuracy of ``pos >= t`` and ``neg < t``, and that accuracy.

    Thresholds are the midpoints between consecutive distinct ``values`` (default: the
    finite scores); an infinite score (a case decided whatever the threshold) counts in
    the accuracy only.
    """
    values = np.unique(np.concatenate([pos, neg]) if values is None else values)
    values = values[np.isfinite(values)]
    cuts = (values[1:] + values[:-1]) / 2
    best, best_acc = float(values[0]), 0.0
    for t in cuts:
        acc = ((pos >= t).mean() + (neg < t).mean()) / 2
        if acc > best_acc:
            best, best_acc = float(t), float(acc)
    return best, best_acc


# -- answers (the official SQuAD evaluation's normalisation) ------------------------


def normalize_answer(text: str) -> str:
    """Lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, answers: tuple[str, ...]) -> float:
    return float(any(normalize_answer(prediction) == normalize_answer(a) for a in answers))


def token_f1(prediction: str, answers: tuple[str, ...]) -> float:
    pred = normalize_answer(prediction).split()
    best = 0.0
    for answer in answers:
        gold = normalize_answer(answer).split()
        common = sum((collections.Counter(pred) & collections.Counter(gold)).values())
        if common:
            precision, recall = common / len(pred), common / len(gold)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best
