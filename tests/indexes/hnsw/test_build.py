"""HNSW construction: graph invariants, level distribution, the neighbour heuristic, batch independence."""

from __future__ import annotations

import tracemalloc

import numpy as np

from indexes.hnsw.build import select_heuristic
from indexes.kernels import L2
from tests.indexes.conftest import build, clustered, recall_at


def check_graph(index) -> None:
    """Degree caps, no self-loops, no duplicates, links in range, upper slots consistent."""
    v = index._view
    n, m0, m = index._n_rows, index.config.max_degree, index.config.M
    levels, deg0, links0 = v("levels"), v("deg0"), v("links0")
    up_off, deg_up, links_up = v("up_off"), v("deg_up"), v("links_up")
    assert (deg0 <= m0).all() and (deg_up <= m).all()
    if n > 1:
        assert (deg0 > 0).all(), "every node has level-0 links"
    for u in range(n):
        nb = links0[u, : deg0[u]]
        assert ((nb >= 0) & (nb < n) & (nb != u)).all() and len(set(nb.tolist())) == nb.size
        for lv in range(1, int(levels[u]) + 1):
            r = up_off[u] + lv - 1
            up = links_up[r, : deg_up[r]]
            assert ((up != u) & (levels[up] >= lv)).all(), "upper links join nodes living on that level"
    assert (up_off[levels == 0] == -1).all()
    assert index._n_up == int(levels.astype(np.int64).sum())
    entry, top = index._top
    assert levels[entry] == top == levels.max()


def test_graph_invariants_and_levels():
    x = clustered(3000, 16, seed=0)
    index = build("HNSW8", x)
    check_graph(index)
    levels = index._view("levels")
    # P(level >= 1) = 1 / M with M = 8.
    assert abs(float((levels >= 1).mean()) - 1 / 8) < 0.03


def test_heuristic_prefers_diverse_directions():
    # Base at the origin; 1 and 2 sit close together in one direction, 3 in another.
    x = np.array([[0, 0], [1, 0], [1.1, 0.05], [0, 1.5], [5, 5]], dtype=np.float32)
    rows = np.array([1, 2, 3, 4], dtype=np.int64)
    dists = ((x[rows] - x[0]) ** 2).sum(1).astype(np.float32)
    out = np.empty(4, np.int64)
    kept = select_heuristic(rows, dists, 4, 2, x, L2, out)
    assert list(out[:kept]) == [1, 3], "2 is closer to 1 than to the base, so it is skipped"
    assert select_heuristic(rows, dists, 2, 4, x, L2, out) == 2, "fewer candidates than M are all kept"


def test_incremental_batches_match_one_batch():
    x = clustered(2000, 16, seed=1)
    q = clustered(2050, 16, seed=1)[2000:]
    truth = build("Flat", x).search(q, 10).ids
    whole = build("HNSW8", x)
    parts = build("HNSW8", x[:1])
    for start in range(1, 2000, 333):
        parts.add(x[start : start + 333], ids=np.arange(start, min(start + 333, 2000)))
    check_graph(parts)
    a = recall_at(whole.search(q, 10, ef_search=32).ids, truth)
    b = recall_at(parts.search(q, 10, ef_search=32).ids, truth)
    assert b >= a - 0.03 and b > 0.9


def test_a_build_holds_one_copy_of_its_vectors():
    """The normalised batch becomes the graph's vector array: no second float32 copy of the input.
    The caller's own array is never taken over (l2 keeps the input as is, so it is copied)."""
    x = clustered(6000, 128, clusters=20, seed=3)
    build("HNSW4,ef_construction=16", x[:50])  # the kernels loaded before tracing
    tracemalloc.start()
    cosine = build("HNSW4,ef_construction=16", x)
    _, peak = tracemalloc.get_traced_memory()  # numpy's and numba's arrays
    tracemalloc.stop()
    # The normalised batch (x.nbytes) and the links; a second copy would pass 2 * x.nbytes.
    assert peak < 1.5 * x.nbytes, f"building allocated {peak} bytes at its peak for {x.nbytes} bytes of vectors"
    np.testing.assert_allclose(cosine._view("vectors"), x / np.linalg.norm(x, axis=1, keepdims=True), rtol=1e-6)
    given = x.copy()
    l2 = build("HNSW4,ef_construction=16", given, "l2")
    assert not np.shares_memory(l2._view("vectors"), given)
    before = l2.search(x[:5], 3)
    given[:] = 0.0
    np.testing.assert_array_equal(l2.search(x[:5], 3).ids, before.ids)
