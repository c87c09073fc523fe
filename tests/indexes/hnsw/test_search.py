"""HNSW queries: parity with hnswlib, filtered traversal, thread safety."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tests.indexes.conftest import build, clustered, recall_at


def test_recall_matches_hnswlib(glove10k):
    """Same graph conventions as hnswlib M=16 (our HNSW16): recall within noise at equal ef."""
    hnswlib = pytest.importorskip("hnswlib")
    base, queries, truth = glove10k
    ours = build("HNSW16", base)
    unit = base / np.linalg.norm(base, axis=1, keepdims=True)
    theirs = hnswlib.Index("ip", base.shape[1])
    theirs.init_index(len(base), M=16, ef_construction=200, random_seed=1)
    theirs.set_num_threads(1)
    theirs.add_items(unit)
    for ef in (16, 32):
        theirs.set_ef(ef)
        a = recall_at(ours.search(queries, 10, ef_search=ef).ids, truth)
        b = recall_at(theirs.knn_query(queries / np.linalg.norm(queries, axis=1, keepdims=True), 10)[0], truth)
        assert a >= b - 0.02, f"ef={ef}: ours {a:.3f}, hnswlib {b:.3f}"


@pytest.mark.parametrize("fraction", [0.5, 0.2, 0.05, 0.01])
def test_filtered_traversal_keeps_recall(fraction):
    """Forced graph search (exact_fraction=0) under a filter still finds the allowed neighbours."""
    points = clustered(5050, 24, seed=2)
    base, q = points[:5000], points[5000:]
    rng = np.random.default_rng(3)
    allow = np.flatnonzero(rng.random(5000) < fraction)
    truth = build("Flat", base).search(q, 10, allow=allow).ids
    index = build("HNSW8", base)
    res = index.search(q, 10, allow=allow, exact_fraction=0.0)
    assert np.isin(res.ids, allow).all()
    assert recall_at(res.ids, truth) >= 0.95


def test_threads_give_the_same_answers():
    points = clustered(3200, 32, seed=4)
    index = build("HNSW8", points[:3000])
    q = points[3000:]
    serial = index.search(q, 10).ids
    with ThreadPoolExecutor(4) as pool:
        parts = list(pool.map(lambda i: index.search(q[i : i + 50], 10).ids, range(0, 200, 50)))
    np.testing.assert_array_equal(np.concatenate(parts), serial)
