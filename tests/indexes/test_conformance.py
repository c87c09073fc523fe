"""One contract, every index type: the conformance suite parametrized over every spec."""

from __future__ import annotations

import numpy as np
import pytest

import indexes
from indexes.approximate import ApproximateIndex
from indexes.errors import NotTrainedError
from tests.indexes.conftest import SPECS, build, clustered

DIM = 16


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    points = clustered(612, DIM, clusters=12, intrinsic=6, seed=3)
    return points[:600], points[600:]


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
@pytest.mark.parametrize("spec", SPECS)
def test_lifecycle(spec, metric, data, tmp_path):
    """train / add / len / search / delete / save / load(mmap) / search again gives the same results."""
    x, q = data
    index = indexes.create(spec, DIM, metric)
    index.train(x)
    ids = np.arange(1000, 1600)
    assert np.array_equal(index.add(x[:400], ids[:400]), ids[:400])
    index.add(x[400:], ids[400:])
    assert len(index) == 600

    res = index.search(q, 10)
    assert res.ids.shape == (12, 10) and res.ids.dtype == np.int64
    assert res.scores.shape == (12, 10) and res.scores.dtype == np.float32
    assert np.isin(res.ids, ids).all()
    assert (np.diff(res.scores, axis=1) <= 1e-6).all(), "results must come best first"

    doomed = ids[::3]
    assert index.delete(doomed.tolist() + [5]) == doomed.size
    assert index.delete(doomed[:4]) == 0, "deleting twice counts nothing"
    assert len(index) == 600 - doomed.size
    after = index.search(q, 10)
    assert not np.isin(after.ids, doomed).any()

    index.save(tmp_path / "ix")
    meta = indexes.read_meta(tmp_path / "ix")
    assert meta["spec"] == spec and meta["count"] == len(index) and meta["metric"] == metric
    loaded = indexes.load(tmp_path / "ix", mmap=True)
    assert type(loaded) is type(index) and len(loaded) == len(index)
    again = loaded.search(q, 10)
    np.testing.assert_array_equal(again.ids, after.ids)
    np.testing.assert_allclose(again.scores, after.scores, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("spec", SPECS)
def test_mmap_and_eager_loads_agree(spec, data, tmp_path):
    x, _ = data
    build(spec, x).save(tmp_path / "ix")
    mapped = indexes.load(tmp_path / "ix", mmap=True)
    eager = indexes.load(tmp_path / "ix", mmap=False)
    np.testing.assert_array_equal(eager.search(x[:5], 5).ids, mapped.search(x[:5], 5).ids)


@pytest.mark.parametrize("spec", SPECS)
def test_add_after_load_and_compact(spec, data, tmp_path):
    """Incremental adds to a memory-mapped index copy into memory; compaction reclaims deleted rows."""
    x, q = data
    index = build(spec, x[:500])
    index.save(tmp_path / "ix")
    loaded = indexes.load(tmp_path / "ix", mmap=True)
    new_ids = loaded.add(x[500:])
    assert np.array_equal(new_ids, np.arange(500, 600)), "ids continue after the saved ones"
    assert len(loaded) == 600
    hit = loaded.search(x[550:551], 1)
    assert hit.ids[0, 0] == 550 or spec.startswith(("PQ", "IVF")), "an added vector finds itself"

    loaded.delete(range(0, 600, 2))
    before = loaded.search(q, 5)
    loaded.compact()
    assert len(loaded) == 300
    if isinstance(loaded, ApproximateIndex):
        assert loaded.deleted_count == 0 and loaded.arrays()["ids"].shape[0] == 300
        assert "live" not in loaded.arrays()
    after = loaded.search(q, 5)
    assert not np.isin(after.ids, np.arange(0, 600, 2)).any()
    assert np.mean(before.ids == after.ids) >= 0.8
    loaded.save(tmp_path / "ix2")
    assert len(indexes.load(tmp_path / "ix2")) == 300


@pytest.mark.parametrize("spec", SPECS)
def test_padding_and_empty(spec, data):
    x, q = data
    index = indexes.create(spec, DIM)
    index.train(x)
    empty = index.search(q[:2], 4)
    assert (empty.ids == -1).all() and np.isneginf(empty.scores).all()
    index.add(x[:3], ids=[7, 8, 9])
    res = index.search(q[:2], 5)
    assert (res.ids[:, 3:] == -1).all() and np.isneginf(res.scores[:, 3:]).all()
    assert all(set(row[:3]) == {7, 8, 9} for row in res.ids)


@pytest.mark.parametrize("spec", SPECS)
def test_filter_at_low_selectivity(spec, data):
    """With 1% of the vectors allowed the answer is exact over them (no collapse)."""
    x, q = data
    index = build(spec, x)
    exact = build("Flat", x)
    allow = np.arange(0, 600, 100)
    res = index.search(q, 3, allow=allow)
    want = exact.search(q, 3, allow=allow)
    assert np.isin(res.ids, allow).all()
    keeps_raw_vectors = not spec.startswith("PQ") and spec != "IVF8,PQ8x4"
    if keeps_raw_vectors:  # PQ-only types scan the allowed codes, which is exact ADC, not exact search
        np.testing.assert_array_equal(res.ids, want.ids)
    mask = np.zeros(600, dtype=bool)
    mask[allow] = True
    np.testing.assert_array_equal(index.search(q, 3, allow=mask).ids, res.ids)
    assert (index.search(q, 3, allow=[]).ids == -1).all()


@pytest.mark.parametrize("spec", SPECS)
def test_wider_filter_stays_inside_allowed(spec, data):
    x, q = data
    index = build(spec, x)
    allow = set(range(0, 600, 3))
    res = index.search(q, 10, allow=allow, exact_fraction=0.0) if spec != "Flat" else index.search(q, 10, allow=allow)
    assert np.isin(res.ids, list(allow)).all()
    assert (res.ids >= 0).all()


@pytest.mark.parametrize("spec", ["PQ8x4", "IVF8,PQ8x4", "IVF8,PQ8x4,RFlat"])
def test_untrained_add_raises(spec, data):
    index = indexes.create(spec, DIM)
    assert not index.is_trained
    with pytest.raises(NotTrainedError, match="train"):
        index.add(data[0])


@pytest.mark.parametrize("spec", [s for s in SPECS if s != "Flat"])
def test_duplicate_and_existing_ids(spec, data):
    x, _ = data
    index = build(spec, x[:300])
    with pytest.raises(indexes.base.ConfigError, match="already in the index"):
        index.add(x[:2], ids=[5, 1000])
    with pytest.raises(indexes.base.ConfigError, match="duplicates"):
        index.add(x[:2], ids=[2000, 2000])
    index.delete([5])
    index.add(x[5:6], ids=[5])
    assert 5 in index.search(x[5:6], 1).ids


@pytest.mark.parametrize("spec", SPECS)
def test_search_defaults_round_trip(spec, data, tmp_path):
    x, q = data
    index = build(spec, x)
    index.set_search_defaults(exact_fraction=0.2) if spec != "Flat" else index.set_search_defaults()
    index.save(tmp_path / "ix")
    loaded = indexes.load(tmp_path / "ix")
    assert loaded.search_defaults == index.search_defaults
