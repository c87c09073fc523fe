"""Flat is the ground truth, so it is checked against plain numpy for every metric."""

from __future__ import annotations

import numpy as np
import pytest

import indexes


def numpy_topk(x, q, k, metric):
    if metric == "cosine":
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
        s = q @ x.T
    elif metric == "ip":
        s = q @ x.T
    else:
        s = -((q[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(s, order, axis=1)


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_flat_matches_numpy(metric):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 24)).astype(np.float32)
    q = rng.normal(size=(20, 24)).astype(np.float32)
    ix = indexes.create("Flat", 24, metric)
    ix.add(x)
    res = ix.search(q, 10)
    ids, scores = numpy_topk(x, q, 10, metric)
    np.testing.assert_array_equal(res.ids, ids)
    np.testing.assert_allclose(res.scores, scores, rtol=1e-4, atol=1e-4)
    assert res.ids.dtype == np.int64 and res.scores.dtype == np.float32


def test_flat_pads_when_fewer_than_k():
    ix = indexes.create("Flat", 4)
    ix.add(np.eye(4, dtype=np.float32), ids=[10, 11, 12, 13])
    res = ix.search(np.ones((1, 4), np.float32), 6)
    assert list(res.ids[0, 4:]) == [-1, -1]
    assert np.isneginf(res.scores[0, 4:]).all()
    assert set(res.ids[0, :4]) == {10, 11, 12, 13}


def test_flat_blocks_agree_with_single_pass(monkeypatch):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1000, 8)).astype(np.float32)
    q = rng.normal(size=(5, 8)).astype(np.float32)
    ix = indexes.create("Flat", 8, "l2")
    ix.add(x)
    whole = ix.search(q, 7)
    monkeypatch.setattr("indexes.flat._BLOCK_ROWS", 64)
    blocked = ix.search(q, 7)
    np.testing.assert_array_equal(whole.ids, blocked.ids)


def test_flat_delete_filter_save_load(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 16)).astype(np.float32)
    ix = indexes.create("Flat", 16)
    ix.add(x, ids=np.arange(1000, 1200))
    assert ix.delete([1000, 1001, 99999]) == 2
    res = ix.search(x[:2], 5)
    assert 1000 not in res.ids and 1001 not in res.ids
    allowed = ix.search(x[:3], 5, allow={1002, 1003})
    assert set(allowed.ids.ravel()) <= {1002, 1003, -1}
    ix.save(tmp_path / "flat")
    loaded = indexes.load(tmp_path / "flat", mmap=True)
    assert isinstance(loaded.arrays()["vectors"], np.memmap) or loaded.arrays()["vectors"].base is not None
    assert len(loaded) == 198
    np.testing.assert_array_equal(loaded.search(x[:5], 5).ids, ix.search(x[:5], 5).ids)


def test_flat_errors():
    ix = indexes.create("Flat", 8)
    with pytest.raises(indexes.base.DimensionMismatchError):
        ix.add(np.zeros((2, 9), np.float32))
    with pytest.raises(indexes.base.ConfigError, match="unknown search parameter"):
        ix.search(np.zeros((1, 8), np.float32), 3, ef_search=10)
    with pytest.raises(indexes.base.ConfigError, match="unknown index spec"):
        indexes.create("Flatt", 8)
    with pytest.raises(indexes.base.ConfigError, match="metric"):
        indexes.create("Flat", 8, "hamming")
