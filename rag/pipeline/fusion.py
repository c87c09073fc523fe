"""Fusing rankings from several retrievers into one.

* Reciprocal-rank fusion (Cormack, Clarke and Buettcher, SIGIR 2009): a document's
  fused score is the sum over rankings of ``1 / (k + rank)``, ranks from 1. It
  needs no score calibration, which is why it is the default: BM25 scores are
  unbounded and query-dependent, cosine similarities are not.
* Convex combination: each ranking's scores are min-max normalised over its own
  candidates, then summed with weights. A document missing from a ranking gets 0
  there (it scored below that ranking's last candidate).

Both take rankings as sequences of ``(id, score)`` best first and return a list of
``(id, fused score)`` best first; ties keep the order of first appearance.
"""

from __future__ import annotations

from collections.abc import Sequence

RRF_K = 60  # the constant of the paper; larger values flatten the rank discount
CONVEX_DENSE_WEIGHT = 0.5  # convex: weight of the dense ranking, 1 - it for BM25

Ranking = Sequence[tuple[int, float]]


def reciprocal_rank_fusion(rankings: Sequence[Ranking], k: int = RRF_K) -> list[tuple[int, float]]:
    """Fused ``(id, score)`` pairs, best first; score = sum of ``1 / (k + rank)`` over rankings."""
    if k < 0:
        raise ValueError(f"k must be non-negative, got {k}")
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, (doc_id, _) in enumerate(ranking, start=1):
            fused[doc_id] = fused.get(doc_id, 0.0) + 1.0 / (k + rank)
    return _sorted(fused)


def min_max(ranking: Ranking) -> dict[int, float]:
    """Scores of one ranking mapped to [0, 1] (all 1.0 when every score is equal)."""
    if not ranking:
        return {}
    scores = [s for _, s in ranking]
    lo, hi = min(scores), max(scores)
    span = hi - lo
    return {doc_id: (s - lo) / span if span > 0 else 1.0 for doc_id, s in ranking}


def convex_fusion(rankings: Sequence[Ranking], weights: Sequence[float]) -> list[tuple[int, float]]:
    """Fused ``(id, score)`` pairs, best first; score = sum of weight * min-max normalised score."""
    if len(weights) != len(rankings):
        raise ValueError(f"{len(rankings)} rankings but {len(weights)} weights")
    fused: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights):
        for doc_id, score in min_max(ranking).items():
            fused[doc_id] = fused.get(doc_id, 0.0) + weight * score
    return _sorted(fused)


def _sorted(fused: dict[int, float]) -> list[tuple[int, float]]:
    # sorted() is stable: equal scores keep the order in which ids were first seen
    return sorted(fused.items(), key=lambda item: -item[1])
