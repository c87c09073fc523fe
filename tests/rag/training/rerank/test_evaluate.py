"""Ranking metrics on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rag.training.rerank.evaluate import RerankCase, first_stage_metrics, mrr_at_k, ndcg_at_k, rerank_metrics


def test_ndcg_and_mrr_by_hand():
    rel = frozenset({"b", "d"})
    assert mrr_at_k(["a", "b", "c", "d"], rel) == 0.5
    ideal = 1 + 1 / math.log2(3)
    assert ndcg_at_k(["a", "b", "c", "d"], rel) == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / ideal)
    assert ndcg_at_k(["b", "d"], rel) == pytest.approx(1.0)
    assert mrr_at_k(["x"] * 10 + ["b"], rel) == 0.0  # past the cut-off


def test_rerank_metrics_reorder_the_candidates():
    cases = [RerankCase("q", ["a", "b", "c"], frozenset({"c"}))]
    texts = {"a": "x", "b": "xx", "c": "xxx"}
    by_length = rerank_metrics(lambda q, p: np.array([len(t) for t in p], dtype=np.float32), cases, texts)
    assert by_length["ndcg@10"] == 1.0 and by_length["mrr@10"] == 1.0
    assert first_stage_metrics(cases)["mrr@10"] == pytest.approx(1 / 3)
    assert first_stage_metrics([RerankCase("q", ["a"], frozenset({"z"}))])["candidate_recall"] == 0.0
