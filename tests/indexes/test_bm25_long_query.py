"""BM25Index on long queries (a pasted page): repeats read the postings once, distinct terms are bounded."""

from __future__ import annotations

import time

import numpy as np
import pytest

from indexes.lexical import BM25Index
from indexes.lexical.bm25 import MAX_QUERY_TERMS


def test_a_repeated_term_scores_by_its_count_and_reads_its_postings_once():
    n = 40_000
    index = BM25Index()
    index.add([["x", f"u{i}"] for i in range(n)], np.arange(n))
    assert index.search([["x", "x", "u7"]], 5).ids[0, 0] == 7
    x_only = index.search([["x"]], 1).scores[0, 0]
    assert index.search([["x", "x", "x"]], 1).scores[0, 0] == pytest.approx(3 * x_only, rel=1e-5)  # three times

    page = ["x"] * 50_000  # a pasted page of one common word: 50,000 reads of 40,000 postings, were it read per copy
    index.search([page], 10)  # compile
    t0 = time.perf_counter()
    result = index.search([page], 10)
    assert time.perf_counter() - t0 < 1.0  # read once: milliseconds; once per copy it took 7 s here
    assert result.scores[0, 0] == pytest.approx(50_000 * x_only, rel=1e-4)


def test_a_query_keeps_its_weightiest_distinct_terms():
    rare = [f"r{i}" for i in range(MAX_QUERY_TERMS)]  # one document each: the largest idf
    common = [f"c{j}" for j in range(50)]  # in every filler document: a small idf
    docs = [[t] for t in rare] + [list(common) for _ in range(200)]
    index = BM25Index()
    index.add(docs, np.arange(len(docs)))
    result = index.search([rare + common], len(docs))
    found = set(result.ids[0][result.ids[0] >= 0].tolist())
    assert found == set(range(MAX_QUERY_TERMS))  # the common terms, least weighty, were dropped
    # written often enough, a common term outweighs a rare one and is kept instead
    heavy = index.search([rare + common[:1] * 500], len(docs))
    assert MAX_QUERY_TERMS in set(heavy.ids[0].tolist())
    assert (heavy.ids[0] >= 0).sum() == MAX_QUERY_TERMS - 1 + 200
