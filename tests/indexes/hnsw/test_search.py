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


def _single_calls(index, q, k, **params):
    """Answers of one search call per query (the single-query path), stacked."""
    parts = [index.search(q[i : i + 1], k, **params) for i in range(q.shape[0])]
    return np.concatenate([p.ids for p in parts]), np.concatenate([p.scores for p in parts])


@pytest.mark.parametrize("metric", ["cosine", "l2", "ip"])
def test_batch_over_threads_equals_single_calls(monkeypatch, metric):
    """A batch split over pool threads (each with its own scratch) returns exactly the single-query answers."""
    import indexes.hnsw.batch as batch_module

    monkeypatch.setattr(batch_module, "cores", lambda: 4)  # split even on a one-core machine
    points = clustered(3300, 32, seed=5)
    index = build("HNSW8", points[:3000], metric, ids=np.arange(3000) * 3 + 7)
    q = points[3000:]
    for ef, k in ((16, 10), (64, 5), (8, 20)):
        ids, scores = _single_calls(index, q, k, ef_search=ef)
        batch = index.search(q, k, ef_search=ef)
        np.testing.assert_array_equal(batch.ids, ids)
        np.testing.assert_array_equal(batch.scores, scores)
    # The filtered and deleted paths split the same way.
    allow = np.arange(7, 9000, 6)
    ids, scores = _single_calls(index, q, 10, allow=allow, exact_fraction=0.0)
    batch = index.search(q, 10, allow=allow, exact_fraction=0.0)
    np.testing.assert_array_equal(batch.ids, ids)
    np.testing.assert_array_equal(batch.scores, scores)
    index.delete(np.arange(7, 9000, 15))
    ids, scores = _single_calls(index, q, 10)
    batch = index.search(q, 10)
    np.testing.assert_array_equal(batch.ids, ids)
    np.testing.assert_array_equal(batch.scores, scores)


def test_concurrent_single_queries_are_correct():
    """Many threads issuing single-query searches at once (each with its own scratch) get the serial answers."""
    import threading

    points = clustered(3400, 32, seed=6)
    index = build("HNSW8", points[:3000])
    q = points[3000:]
    efs = (10, 32, 128)
    expected = {ef: _single_calls(index, q, 10, ef_search=ef) for ef in efs}
    start = threading.Barrier(6)

    def worker(t: int):
        start.wait()
        order = np.random.default_rng(t).permutation(q.shape[0])
        out = []
        for rep in range(3):
            ef = efs[(t + rep) % len(efs)]
            for i in order:
                res = index.search(q[i : i + 1], 10, ef_search=ef)
                out.append((ef, i, res.ids[0], res.scores[0]))
        return out

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(worker, range(6)))
    for out in results:
        for ef, i, ids, scores in out:
            np.testing.assert_array_equal(ids, expected[ef][0][i])
            np.testing.assert_array_equal(scores, expected[ef][1][i])


def test_single_query_checks_and_growth():
    """The lean single-query path keeps the template's checks and follows adds."""
    from core.errors import ConfigError
    from indexes.errors import DimensionMismatchError

    points = clustered(2100, 16, seed=7)
    index = build("HNSW8", points[:1000])
    q = points[2000:2001]
    with pytest.raises(ConfigError, match="NaN or infinite"):
        index.search(np.full((1, 16), np.nan, dtype=np.float32), 5)
    bad = np.repeat(q, 40, axis=0)
    bad[33, 2] = np.inf
    with pytest.raises(ConfigError, match="NaN or infinite"):
        index.search(bad, 5)  # a batch, split over threads
    with pytest.raises(DimensionMismatchError):
        index.search(q[:, :8], 5)
    with pytest.raises(ConfigError, match="k must be"):
        index.search(q, 0)
    with pytest.raises(ConfigError, match="ef_search"):
        index.search(q, 5, ef_search=0)
    first = index.search(q, 5)
    # 1-D, float64 and strided queries answer as the float32 row does.
    for variant in (q[0], q.astype(np.float64), np.asfortranarray(np.repeat(q, 2, axis=0))[:1]):
        res = index.search(variant, np.int64(5))
        np.testing.assert_array_equal(res.ids, first.ids)
        np.testing.assert_array_equal(res.scores, first.scores)
    # Growing the graph (scratch reallocated), then the new rows are found.
    index.add(points[1000:2000])
    res = index.search(points[1500:1501], 1, ef_search=300)
    assert res.ids[0, 0] == 1500
    assert len(index) == 2000
