"""KD-tree: structure invariants, exactness for every metric, the unindexed tail, budgets."""

from __future__ import annotations

import numpy as np
import pytest

from indexes.kdtree import build_tree
from tests.indexes.conftest import build, clustered


def test_tree_invariants():
    x = clustered(1000, 6, clusters=5, seed=0)
    tree = build_tree(x, 16)
    perm = tree["perm"]
    assert np.array_equal(np.sort(perm), np.arange(1000))
    leaves = np.flatnonzero(tree["left"] < 0)
    assert ((tree["end"] - tree["start"])[leaves] <= 16).all()
    assert (tree["end"] - tree["start"])[leaves].sum() == 1000
    for node in range(len(tree["left"])):
        pts = x[perm[tree["start"][node] : tree["end"][node]]]
        assert (pts >= tree["lo"][node] - 1e-7).all() and (pts <= tree["hi"][node] + 1e-7).all()
        if tree["left"][node] >= 0:
            left, right = tree["left"][node], tree["right"][node]
            assert tree["start"][left] == tree["start"][node] and tree["end"][right] == tree["end"][node]


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_unbounded_search_is_exact(metric):
    x = clustered(2000, 12, seed=1)
    q = np.random.default_rng(2).normal(size=(20, 12)).astype(np.float32)
    got = build("KD8", x, metric).search(q, 10)
    want = build("Flat", x, metric).search(q, 10)
    np.testing.assert_array_equal(got.ids, want.ids)
    np.testing.assert_allclose(got.scores, want.scores, rtol=1e-4, atol=1e-4)


def test_tail_is_searched_and_rebuild_is_deferred():
    x = clustered(1400, 8, seed=3)
    index = build("KD16", x[:1000])
    index.add(x[1000:1100])  # 10% more: stays in the exactly scanned tail
    assert index._tree_rows == 1000
    np.testing.assert_array_equal(index.search(x[1050:1060], 1).ids[:, 0], np.arange(1050, 1060))
    index.add(x[1100:])  # the tail passes a quarter of the tree: rebuilt
    assert index._tree_rows == 1400


def test_identical_points_and_leaf_budget():
    x = np.ones((300, 4), dtype=np.float32)
    index = build("KD4", x, "l2")
    res = index.search(x[:1], 5, max_leaves=1)
    assert (res.ids[0] >= 0).all() and np.allclose(res.scores, 0.0)
