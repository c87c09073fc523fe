"""Sharded search on Ray: the merged top-k equals one index's (Flat), recall holds (HNSW), deletes and
filters reach every shard."""

from __future__ import annotations

import numpy as np
import pytest

import indexes
from core.errors import ConfigError
from rag.distributed.shards import merge_topk, shard_of

pytestmark = pytest.mark.ray

N, DIM, K = 3000, 32, 10


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((N, DIM)).astype(np.float32)
    ids = (np.arange(N, dtype=np.int64) * 5) + 11  # strided, as chunk ids of several collections are
    q = rng.standard_normal((40, DIM)).astype(np.float32)
    return x, ids, q


def single(spec, x, ids):
    index = indexes.create(spec, DIM, "cosine")
    index.add(x, ids)
    return index


def sharded(tmp_path, spec, x, ids, n=3):
    from rag.distributed.shards import ShardedIndex

    s = ShardedIndex(tmp_path / spec, n, DIM, "cosine", spec)
    s.add(x, ids)
    return s


def test_routing_is_balanced_and_stable():
    where = shard_of(np.arange(0, 40_000, 4), 4)  # a stride that id % 4 would put on one shard
    counts = np.bincount(where, minlength=4)
    assert counts.min() > 0.9 * counts.mean()
    assert (shard_of(np.arange(0, 40_000, 4), 4) == where).all()


def test_merge_breaks_ties_by_id_and_pads():
    a = indexes.SearchResult(np.array([[5, -1]]), np.array([[0.5, -np.inf]], np.float32))
    b = indexes.SearchResult(np.array([[3, 9]]), np.array([[0.5, 0.7]], np.float32))
    m = merge_topk([a, b], 4)
    assert m.ids.tolist() == [[9, 3, 5, -1]]
    assert m.scores[0, 3] == -np.inf


def test_flat_shards_equal_one_flat_index(ray_local, tmp_path, data):
    x, ids, q = data
    s = sharded(tmp_path, "Flat", x, ids)
    try:
        assert sum(s.counts()) == N and min(s.counts()) > 0
        got, want = s.search(q, K), single("Flat", x, ids).search(q, K)
        assert (got.ids == want.ids).all()
        np.testing.assert_allclose(got.scores, want.scores, rtol=0, atol=1e-6)
    finally:
        s.close()


def test_hnsw_shards_recall_within_noise_of_one_hnsw(ray_local, tmp_path, data):
    x, ids, q = data
    exact = single("Flat", x, ids).search(q, K).ids

    def recall(found):
        return np.mean([len(set(f) & set(e)) / K for f, e in zip(found, exact)])

    s = sharded(tmp_path, "HNSW16", x, ids)
    try:
        r_sharded = recall(s.search(q, K, ef_search=32).ids)
    finally:
        s.close()
    r_single = recall(single("HNSW16", x, ids).search(q, K, ef_search=32).ids)
    assert r_sharded >= r_single - 0.02, (r_sharded, r_single)


def test_deletes_and_filters_reach_every_shard(ray_local, tmp_path, data):
    x, ids, q = data
    s = sharded(tmp_path, "Flat", x, ids)
    try:
        before = s.search(q, K).ids
        doomed = np.unique(before[:, :3].ravel())  # top hits, spread over the shards
        assert len({int(w) for w in shard_of(doomed, 3)}) == 3
        assert s.remove(doomed) == doomed.size
        assert len(s) == N - doomed.size
        after = s.search(q, K).ids
        assert not np.isin(after, doomed).any()

        allowed = ids[::7]  # every 7th id: on every shard
        got = s.search(q, K, allow=allowed)
        keep = np.isin(ids, allowed) & ~np.isin(ids, doomed)
        want = single("Flat", x[keep], ids[keep]).search(q, K)
        assert (got.ids == want.ids).all()
    finally:
        s.close()


def test_shards_reopen_from_their_directories(ray_local, tmp_path, data):
    from rag.distributed.shards import ShardedIndex

    x, ids, q = data
    s = sharded(tmp_path, "Flat", x[:500], ids[:500], n=2)
    want = s.search(q, K).ids
    s.close()
    again = ShardedIndex(tmp_path / "Flat", 2, DIM, "cosine", "Flat")
    try:
        assert (again.search(q, K).ids == want).all()
    finally:
        again.close()
    with pytest.raises(ConfigError):
        ShardedIndex(tmp_path / "Flat", 4, DIM, "cosine", "Flat")
