"""Reranking metrics on held-out claims: nDCG@10 and MRR@10 of reordering a fixed candidate list.

Relevance is binary (SciFact judgements all have score 1). Queries whose
relevant documents are not among the candidates still count (with zero), so
the numbers are comparable with full-corpus retrieval at the same depth.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rag.metrics import mrr_at, ndcg_at

PairScorer = Callable[[Sequence[str], Sequence[str]], np.ndarray]  # (queries, passages) -> float32 (n,)


@dataclass(frozen=True)
class RerankCase:
    """One held-out query: its text, candidate doc ids (first-stage order) and relevant doc ids."""

    query: str
    candidates: list[str]
    relevant: frozenset[str]


def ndcg_at_k(ranked: Sequence[str], relevant: frozenset[str], k: int = 10) -> float:
    """Binary-gain nDCG@k of one ranking."""
    return ndcg_at(list(ranked), dict.fromkeys(relevant, 1.0), k)


def mrr_at_k(ranked: Sequence[str], relevant: frozenset[str], k: int = 10) -> float:
    """Reciprocal rank of the first relevant document within the top k (0 if none)."""
    return mrr_at(list(ranked), set(relevant), k)


def ranking_metrics(rankings: Sequence[Sequence[str]], cases: Sequence[RerankCase]) -> dict[str, float]:
    """Mean nDCG@10, MRR@10 and the candidates' recall over ``cases``, one ranking per case."""
    n = max(1, len(cases))
    return {
        "ndcg@10": sum(ndcg_at_k(r, c.relevant) for r, c in zip(rankings, cases)) / n,
        "mrr@10": sum(mrr_at_k(r, c.relevant) for r, c in zip(rankings, cases)) / n,
        "candidate_recall": sum(len(c.relevant & set(c.candidates)) / len(c.relevant) for c in cases) / n,
    }


def rerank_metrics(scorer: PairScorer, cases: Sequence[RerankCase], texts: dict[str, str]) -> dict[str, float]:
    """Metrics of reordering each case's candidates by ``scorer``.

    All pairs go to ``scorer`` in one call, so it can batch across queries.

    Args:
        scorer: scores (query, passage) pairs, higher is more relevant.
        cases: the held-out queries with their candidates.
        texts: doc id -> passage text.
    """
    queries = [c.query for c in cases for _ in c.candidates]
    passages = [texts[d] for c in cases for d in c.candidates]
    scores = scorer(queries, passages)
    rankings, start = [], 0
    for c in cases:
        s = scores[start : start + len(c.candidates)]
        start += len(c.candidates)
        order = np.argsort(-s, kind="stable")
        rankings.append([c.candidates[i] for i in order])
    return ranking_metrics(rankings, cases)


def first_stage_metrics(cases: Sequence[RerankCase]) -> dict[str, float]:
    """Metrics of the candidates in their first-stage order (the baseline a reranker must beat)."""
    return ranking_metrics([c.candidates for c in cases], cases)
