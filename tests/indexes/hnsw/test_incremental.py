"""Incremental adds: a saved graph loaded (memory-mapped) and grown finds what a graph built at once finds."""

from __future__ import annotations

import numpy as np

import indexes
from tests.indexes.conftest import build, clustered, recall_at


def _truth(x: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    return np.argsort(-(q @ xn.T), axis=1)[:, :k]


def test_adds_to_a_loaded_graph_keep_the_recall_of_a_fresh_build(tmp_path):
    points = clustered(6200, 32, seed=21)
    x, q = points[:6000], points[6000:]
    truth = _truth(x, q / np.linalg.norm(q, axis=1, keepdims=True), 10)
    fresh = build("HNSW16", x)
    grown = build("HNSW16", x[:2000])
    for start in range(2000, 6000, 1000):  # save, reopen memory-mapped, add: as a store's merge does
        grown.save(str(tmp_path / "g"))
        grown = indexes.load(str(tmp_path / "g"), mmap=True)
        grown.add(x[start : start + 1000], np.arange(start, start + 1000))
    assert len(grown) == 6000
    for ef in (16, 48):
        r_fresh = recall_at(fresh.search(q, 10, ef_search=ef).ids, truth)
        r_grown = recall_at(grown.search(q, 10, ef_search=ef).ids, truth)
        assert r_grown >= r_fresh - 0.02, (ef, r_grown, r_fresh)
    # The loaded arrays were copied before growing: the saved graph on disk is unchanged.
    again = indexes.load(str(tmp_path / "g"), mmap=True)
    assert len(again) == 5000
