"""Ranking metrics over document ids, as trec_eval (and so BEIR) computes them.

Shared by the reranker's training (:mod:`rag.rerank.evaluate`) and the
benchmarks (:mod:`benchmarks.metrics` re-exports them).
"""

from __future__ import annotations

import math


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
