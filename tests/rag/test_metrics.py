"""Ranking metrics against numbers worked out by hand (trec_eval / BEIR conventions)."""

from __future__ import annotations

import math

import pytest

from rag.metrics import mrr_at, ndcg_at, recall_at_docs


def test_ndcg_binary_gains():
    # relevant a, b; ranking x a y b: DCG = 1/log2(3) + 1/log2(5); ideal = 1 + 1/log2(3)
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert ndcg_at(["x", "a", "y", "b"], {"a": 1, "b": 1}, 10) == pytest.approx(expected)
    assert ndcg_at(["x", "a", "y", "b"], {"a": 1, "b": 1}, 10) == pytest.approx(0.6509209298)


def test_ndcg_graded_gains_are_linear_and_ideal_comes_from_the_qrels():
    # gains a=2, b=1, c=1 (c never retrieved); ranking b a: DCG = 1 + 2/log2(3); ideal = 2 + 1/log2(3) + 1/2
    expected = (1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3) + 0.5)
    assert ndcg_at(["b", "a"], {"a": 2, "b": 1, "c": 1}, 10) == pytest.approx(expected)


def test_ndcg_cuts_at_k_and_ignores_non_positive_judgments():
    assert ndcg_at(["x", "a"], {"a": 1}, 1) == 0.0
    assert ndcg_at(["a"], {"a": 1, "z": 0, "w": -1}, 10) == 1.0
    assert ndcg_at(["a"], {"z": 0}, 10) == 0.0  # nothing relevant: 0, not a division by zero
    # k smaller than the number of relevant documents: the ideal is cut at k too
    assert ndcg_at(["a", "x"], {"a": 1, "b": 1, "c": 1}, 1) == 1.0


def test_recall_at_docs():
    assert recall_at_docs(["a", "x", "b"], {"a", "b", "c"}, 3) == pytest.approx(2 / 3)
    assert recall_at_docs(["a", "x", "b"], {"a", "b", "c"}, 2) == pytest.approx(1 / 3)
    assert recall_at_docs(["a"], set(), 10) == 0.0


def test_mrr_at():
    assert mrr_at(["x", "y", "a", "b"], {"a", "b"}, 10) == pytest.approx(1 / 3)
    assert mrr_at(["x", "y", "a"], {"a"}, 2) == 0.0
    assert mrr_at(["a"], {"a"}, 10) == 1.0
