"""HNSW walks on 8-bit codes (``traverse="sq8"``): the codes, recall, exact scores, saving, adds and compaction."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import indexes
from core.errors import ConfigError
from indexes.hnsw.sq8 import encode, make_codes
from indexes.kernels import IP, L2
from tests.indexes.conftest import GOLDEN, build, clustered, recall_at


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    points = clustered(4100, 32, seed=5)
    return points[:4000], points[4000:]


@pytest.mark.parametrize("metric", [IP, L2])
def test_codes_reconstruct_within_half_a_step(metric):
    x = clustered(500, 16, seed=1)
    codes, lo, step = make_codes(x, metric)
    assert codes.dtype == np.uint8 and codes.shape == x.shape
    decoded = lo + step * codes.astype(np.float32)
    assert np.all(np.abs(decoded - x) <= step * 0.5001 + 1e-6)
    if metric == L2:
        assert np.all(step == step[0])  # one step keeps coded distances Euclidean up to a scale
    far = np.stack([lo - 10.0, lo + 300.0 * step]).astype(np.float32)
    out = np.empty(far.shape, dtype=np.uint8)
    encode(far, lo, step, out)
    assert (out[0] == 0).all() and (out[1] == 255).all()


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_sq8_recall_and_exact_scores(data, metric):
    base, q = data
    truth = build("Flat", base, metric).search(q, 10).ids
    index = build("HNSW8", base, metric)
    exact = index.search(q, 10, ef_search=48, traverse="float32")
    coded = index.search(q, 10, ef_search=48, traverse="sq8")
    r_exact, r_coded = recall_at(exact.ids, truth), recall_at(coded.ids, truth)
    assert r_coded >= 0.9 and r_coded >= r_exact - 0.02, (r_coded, r_exact)
    # Re-ranked with the float32 vectors: the scores are those of an exact search over the ids found.
    rows = coded.ids - 0  # ids are rows here
    again = build("Flat", base, metric).search(q, 4000)
    for i in range(len(q)):
        lookup = dict(zip(again.ids[i], again.scores[i], strict=True))
        expect = np.array([lookup[r] for r in rows[i]], dtype=np.float32)
        np.testing.assert_allclose(coded.scores[i], expect, rtol=1e-5, atol=1e-5)
        assert np.all(np.diff(coded.scores[i]) <= 0)


def test_auto_on_a_small_index_is_the_float32_walk(data):
    base, q = data
    index = build("HNSW8", base)
    auto, plain = index.search(q, 10, ef_search=24), index.search(q, 10, ef_search=24, traverse="float32")
    np.testing.assert_array_equal(auto.ids, plain.ids)
    np.testing.assert_array_equal(auto.scores, plain.scores)
    assert "sq8_codes" not in index.arrays()  # small: no codes made or saved


def test_batch_equals_single_calls(data):
    base, q = data
    index = build("HNSW8", base)
    batch = index.search(q, 10, ef_search=32, traverse="sq8")  # 100 queries: split over the cores
    for i in range(0, len(q), 7):
        one = index.search(q[i : i + 1], 10, ef_search=32, traverse="sq8")
        np.testing.assert_array_equal(one.ids[0], batch.ids[i])
        np.testing.assert_array_equal(one.scores[0], batch.scores[i])


def test_codes_saved_and_reopened(data, tmp_path):
    base, q = data
    index = build("HNSW8", base, ids=np.arange(1000, 5000))
    before = index.search(q, 10, ef_search=32, traverse="sq8")
    index.save(tmp_path / "ix")
    assert (tmp_path / "ix" / "sq8_codes.npy").is_file()
    loaded = indexes.load(tmp_path / "ix", mmap=True)
    after = loaded.search(q, 10, ef_search=32, traverse="sq8")
    np.testing.assert_array_equal(before.ids, after.ids)
    np.testing.assert_array_equal(before.scores, after.scores)
    # Adding to a memory-mapped index codes the new rows with the saved range.
    extra = clustered(50, 32, seed=9)
    loaded.add(extra, ids=np.arange(9000, 9050))
    hit = loaded.search(extra, 1, ef_search=32, traverse="sq8").ids[:, 0]
    assert np.mean(hit == np.arange(9000, 9050)) >= 0.95
    codes, lo, step = loaded._sq
    fresh = np.empty(extra.shape, dtype=np.uint8)
    encode(extra / np.linalg.norm(extra, axis=1, keepdims=True), lo, step, fresh)
    np.testing.assert_array_equal(codes[4000:4050], fresh)


def test_files_without_codes_still_open_and_walk_on_codes(tmp_path):
    """A golden index saved before the codes existed: same answers, and sq8 makes its codes in memory."""
    case = GOLDEN / "hnsw_ip"
    shutil.copytree(case / "index", tmp_path / "ix")
    index = indexes.load(tmp_path / "ix", mmap=True)
    q = np.load(case / "queries.npy")
    expected = np.load(case / "expected_ids.npy")
    np.testing.assert_array_equal(index.search(q, expected.shape[1], ef_search=12).ids, expected)
    coded = index.search(q, expected.shape[1], ef_search=12, traverse="sq8")
    assert recall_at(coded.ids, expected, expected.shape[1]) >= 0.9


def test_compact_drops_the_codes_and_remakes_them(data):
    base, q = data
    index = build("HNSW8", base)
    index.search(q[:1], 10, traverse="sq8")
    index.delete(np.arange(0, 4000, 3))
    index.compact()
    assert index._sq is None
    truth = build("Flat", base).search(q, 10, allow=[i for i in range(4000) if i % 3]).ids
    res = index.search(q, 10, ef_search=48, traverse="sq8")
    assert recall_at(res.ids, truth) >= 0.9


def test_unknown_traverse_is_refused(data):
    index = build("HNSW8", data[0][:100])
    with pytest.raises(ConfigError, match="traverse"):
        index.search(data[1][:1], 5, traverse="int4")


def test_auto_walks_on_codes_from_the_size_threshold(data, monkeypatch, tmp_path):
    base, q = data
    index = build("HNSW8", base)
    monkeypatch.setattr("indexes.hnsw.index.AUTO_MIN_BYTES", base.nbytes)  # the threshold reached exactly
    auto, coded = index.search(q, 10, ef_search=24), index.search(q, 10, ef_search=24, traverse="sq8")
    np.testing.assert_array_equal(auto.ids, coded.ids)
    np.testing.assert_array_equal(auto.scores, coded.scores)
    index.save(tmp_path / "ix")
    assert (tmp_path / "ix" / "sq8_codes.npy").is_file()
