"""Numba building blocks: heaps, the top-k collector, re-scoring, score conversion, k-means."""

from __future__ import annotations

import numpy as np
import pytest

import indexes.kmeans
from indexes.kernels import IP, L2, heap_pop, heap_push, rescore, to_scores, topk_push, topk_write
from indexes.kmeans import assign, kmeans


def test_heap_pops_in_order():
    rng = np.random.default_rng(0)
    keys = rng.normal(size=500).astype(np.float32)
    hk, hv = np.empty(500, np.float32), np.empty(500, np.int64)
    size = 0
    for i, key in enumerate(keys):
        size = heap_push(hk, hv, size, key, i)
    popped = []
    while size:
        popped.append(hv[0])
        size = heap_pop(hk, hv, size)
    np.testing.assert_array_equal(keys[popped], np.sort(keys))


@pytest.mark.parametrize("n", [0, 3, 10, 200])
def test_topk_collector_keeps_smallest(n):
    rng = np.random.default_rng(n)
    dists = rng.normal(size=n).astype(np.float32)
    neg, vals = np.empty(10, np.float32), np.empty(10, np.int64)
    size = 0
    for i, d in enumerate(dists):
        size = topk_push(neg, vals, size, 10, d, i)
    rows, out = np.empty(10, np.int64), np.empty(10, np.float32)
    topk_write(neg, vals, size, rows, out)
    order = np.argsort(dists)[:10]
    np.testing.assert_array_equal(rows[: len(order)], order)
    assert (rows[len(order) :] == -1).all() and np.isinf(out[len(order) :]).all()


@pytest.mark.parametrize("metric", [IP, L2])
def test_rescore_matches_numpy(metric):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 8)).astype(np.float32)
    q = rng.normal(size=(3, 8)).astype(np.float32)
    cand = np.array([[1, 5, 7, -1, 9], [0, 1, 2, 3, 4], [-1, -1, 30, 31, -1]], dtype=np.int64)
    rows, dist = np.empty((3, 4), np.int64), np.empty((3, 4), np.float32)
    rescore(q, x, cand, 4, metric, rows, dist)
    for i in range(3):
        c = cand[i][cand[i] >= 0]
        d = ((x[c] - q[i]) ** 2).sum(1) if metric == L2 else -(x[c] @ q[i])
        want = c[np.argsort(d)][:4]
        np.testing.assert_array_equal(rows[i, : len(want)], want)
    assert rows[2, 3] == -1


def test_score_conversion():
    d = np.array([[0.5, np.inf]], dtype=np.float32)
    np.testing.assert_allclose(to_scores(d, "l2", L2), [[-0.5, -np.inf]])
    np.testing.assert_allclose(to_scores(d, "ip", IP), [[-0.5, -np.inf]])
    np.testing.assert_allclose(to_scores(d, "cosine", L2), [[0.75, -np.inf]])  # |a-b|^2 = 2 - 2cos


def test_assign_matches_brute_force():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 7)).astype(np.float32)
    c = rng.normal(size=(20, 7)).astype(np.float32)
    labels, dists = assign(x, c)
    full = ((x[:, None, :] - c[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(labels, full.argmin(1))
    np.testing.assert_allclose(dists, full.min(1), rtol=1e-4, atol=1e-4)


def test_blas_assignment_matches_brute_force_across_blocks(monkeypatch):
    """From 16 dimensions the dot products come from BLAS, a block of rows at a time."""
    monkeypatch.setattr(indexes.kmeans, "_BLOCK_PRODUCTS", 23 * 40)  # blocks of 23 rows: 300 is not a multiple
    rng = np.random.default_rng(4)
    x = rng.normal(size=(300, 24)).astype(np.float32)
    c = rng.normal(size=(40, 24)).astype(np.float32)
    labels, dists = assign(x, c)
    full = ((x[:, None, :].astype(np.float64) - c[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(labels, full.argmin(1))
    np.testing.assert_allclose(dists, full.min(1), rtol=1e-4, atol=1e-4)


def test_kmeans_finds_separated_blobs_and_survives_duplicates():
    rng = np.random.default_rng(3)
    centres = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], dtype=np.float32)
    x = (centres[rng.integers(0, 4, 800)] + rng.normal(size=(800, 2)) * 0.3).astype(np.float32)
    found = kmeans(x, 4, niter=15)
    assert np.abs(np.sort(found, axis=0) - np.sort(centres, axis=0)).max() < 0.5
    dup = np.repeat(x[:5], 20, axis=0)  # 5 distinct points, 8 clusters: empty clusters get re-seeded
    many = kmeans(dup, 8, niter=5)
    assert np.isfinite(many).all() and many.shape == (8, 2)
