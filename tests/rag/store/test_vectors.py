"""Vector segments and the manifest switch: readers see a whole generation or the previous one."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import indexes
from rag.store.manifest import MANIFEST
from rag.store.vectors import VectorStore


def _vecs(n, seed=0, dim=8):
    return np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)


def test_append_publishes_a_new_generation(tmp_path):
    vs = VectorStore(tmp_path, 8, "cosine", "Flat")
    assert vs.generation == 0 and len(vs) == 0
    assert (vs.search(_vecs(1), 3).ids == -1).all()
    vs.append(_vecs(10), np.arange(10))
    vs.append(_vecs(5, 1), np.arange(100, 105))
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert manifest["generation"] == 2 and manifest["count"] == 15 and manifest["version"] == 2
    # Each append is a run of its own: the first run's files are not rewritten by the second.
    assert [r["index"] for r in manifest["runs"]] == ["index-000001", "index-000002"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["index-000001", "index-000002"]
    reader = VectorStore(tmp_path, 8, "cosine", "Flat")
    q = _vecs(3, 1)
    np.testing.assert_array_equal(reader.search(q, 4).ids, vs.search(q, 4).ids)
    assert reader.search(q[:1], 1).ids[0, 0] == 100
    x, ids = reader.segment_vectors()
    assert x.shape == (15, 8) and list(ids[-5:]) == list(range(100, 105))


def test_reader_refreshes_after_another_writer(tmp_path):
    writer = VectorStore(tmp_path, 8, "cosine", "Flat")
    writer.append(_vecs(4), np.arange(4))
    reader = VectorStore(tmp_path, 8, "cosine", "Flat")
    assert len(reader) == 4
    writer.append(_vecs(3, 2), np.arange(10, 13))
    reader.search(_vecs(1), 1)  # a search re-reads the manifest
    assert len(reader) == 7


def test_failed_publish_leaves_previous_generation_intact(tmp_path, monkeypatch):
    vs = VectorStore(tmp_path, 8, "cosine", "Flat")
    vs.append(_vecs(6), np.arange(6))
    before = (tmp_path / MANIFEST).read_text()
    real_replace = os.replace

    def crash_on_manifest(src, dst, *a, **kw):
        if str(dst).endswith(MANIFEST):
            raise OSError("disk full (simulated)")
        return real_replace(src, dst, *a, **kw)

    monkeypatch.setattr(os, "replace", crash_on_manifest)
    with pytest.raises(OSError, match="simulated"):
        vs.append(_vecs(2, 3), np.arange(50, 52))
    monkeypatch.setattr(os, "replace", real_replace)
    assert (tmp_path / MANIFEST).read_text() == before
    reader = VectorStore(tmp_path, 8, "cosine", "Flat")
    assert len(reader) == 6
    assert not set(reader.search(_vecs(2, 3), 6).ids.ravel()) & {50, 51}
    # The next successful write cleans up the files of the failed one.
    vs.append(_vecs(1, 4), np.array([77]))
    names = {p.name for p in tmp_path.iterdir()}
    assert "seg-000002.npy" not in names or json.loads((tmp_path / MANIFEST).read_text())["generation"] == 2


def test_dimension_mismatch_is_clear(tmp_path):
    vs = VectorStore(tmp_path, 8, "cosine", "Flat")
    with pytest.raises(Exception, match="dimension 8"):
        vs.append(np.zeros((2, 4), np.float32), np.arange(2))


@pytest.mark.parametrize("spec", ["HNSW8", "LSH64", "KD16"])
def test_approximate_specs_serve_the_collection(tmp_path, spec):
    vs = VectorStore(tmp_path, 8, "cosine", spec)
    x = _vecs(300, 5)
    vs.append(x[:200], np.arange(200))
    vs.append(x[200:], np.arange(200, 300))
    assert {r.spec for r in vs.manifest.runs} == {indexes.parse_spec(spec).spec()} and len(vs) == 300
    assert vs.search(x[250:251], 1).ids[0, 0] == 250


def test_learned_index_waits_for_enough_vectors_then_trains(tmp_path):
    from rag.store.vectors import min_train_size

    spec = "IVF4,PQ4x4"
    need = min_train_size(indexes.parse_spec(spec))
    assert need == 39 * 16
    vs = VectorStore(tmp_path, 8, "cosine", spec, background_merges=False)
    x = _vecs(need + 50, 6)
    vs.append(x[:100], np.arange(100))
    assert [r.spec for r in vs.manifest.runs] == ["Flat"]  # exact until there is enough to train on
    vs.append(x[100:], np.arange(100, need + 50))
    # Neither batch could train it alone: the merge that follows trains on the whole collection.
    assert [r.spec for r in vs.manifest.runs] == [spec] and len(vs) == need + 50
    vs.append(_vecs(3, 7), np.array([5000, 5001, 5002]))  # a small batch is an exact run until merged
    assert [r.spec for r in vs.manifest.runs] == [spec, "Flat"] and len(vs) == need + 53
    assert vs.search(_vecs(3, 7)[1:2], 1).ids[0, 0] == 5001
    more = _vecs(8 * 20, 8)
    for i in range(8):  # eight runs of one tier merge, encoded with the trained codebooks
        vs.append(more[20 * i : 20 * (i + 1)], np.arange(6000 + 20 * i, 6000 + 20 * (i + 1)))
    runs = vs.manifest.runs
    assert [r.spec for r in runs] == [spec, "Flat", spec] and len(vs) == need + 53 + 160
    first, last = (indexes.load(str(tmp_path / r.index)) for r in (runs[0], runs[2]))
    np.testing.assert_array_equal(first.arrays()["codebooks"], last.arrays()["codebooks"])
    np.testing.assert_array_equal(first.arrays()["centroids"], last.arrays()["centroids"])
    assert vs.search(more[77:78], 1).ids[0, 0] == 6077


@pytest.mark.parametrize("spec", ["Flat", "HNSW8"])
def test_remove_takes_vectors_out_of_segments_and_index(tmp_path, spec):
    vs = VectorStore(tmp_path, 8, "cosine", spec)
    x = _vecs(30, 8)
    vs.append(x[:20], np.arange(20))
    vs.append(x[20:], np.arange(100, 110))
    assert vs.remove(np.array([3, 4, 100, 999])) == 3
    assert len(vs) == 27 and sorted(vs.stored_ids()) == sorted({*range(20), *range(100, 110)} - {3, 4, 100})
    assert not {3, 4, 100} & set(vs.search(x[[3, 4, 20]], 30).ids.ravel())
    reader = VectorStore(tmp_path, 8, "cosine", spec)  # what is published, not only in memory
    assert len(reader) == 27 and 3 not in set(reader.search(x[3:4], 30).ids.ravel())
    assert vs.remove(np.array([3])) == 0  # nothing left to remove: no new generation
    assert vs.remove(np.arange(200)) == 27 and len(vs) == 0 and (vs.search(x[:1], 3).ids == -1).all()
    vs.append(x[:2], np.array([500, 501]))  # an emptied collection takes vectors again
    assert vs.search(x[:1], 1).ids[0, 0] == 500


def test_every_file_the_manifest_names_is_fsynced_before_the_switch(tmp_path, monkeypatch):
    """A power loss after the manifest switch must not leave it naming data that never reached the disk."""
    import rag.store.manifest as manifest_module

    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        synced.append(os.path.realpath(f"/proc/self/fd/{fd}"))
        return real_fsync(fd)

    switched: list[set[str]] = []
    real_replace = os.replace

    def recording_replace(src, dst):
        if str(dst).endswith(MANIFEST):
            switched.append(set(synced))  # what was durable when the manifest switched
        return real_replace(src, dst)

    monkeypatch.setattr(manifest_module.os, "fsync", recording_fsync)
    monkeypatch.setattr(manifest_module.os, "replace", recording_replace)
    vs = VectorStore(tmp_path, 8, "cosine", "HNSW8")
    vs.append(_vecs(50), np.arange(50), [["a"]] * 50)
    named = manifest_module.named_paths(tmp_path, vs.manifest.names())
    assert any(p.is_dir() for p in named) and any(p.name.endswith(".ids.npy") for p in named)
    assert switched and {os.path.realpath(p) for p in named} <= switched[-1]


def _exact_top(x, ids, q, k):
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    return ids[np.argsort(-(qn @ xn.T), axis=1)[:, :k]]


def test_a_batch_append_that_crashes_halfway_leaves_the_previous_generation(tmp_path, monkeypatch):
    """The new run's segment is written, then saving its index dies: readers keep the old generation."""
    vs = VectorStore(tmp_path, 8, "cosine", "HNSW8")
    x = _vecs(40, 11)
    vs.append(x[:30], np.arange(30))
    before = (tmp_path / MANIFEST).read_text()
    from indexes.hnsw import HNSW

    real_save = HNSW.save

    def dying_save(self, path):
        real_save(self, path)  # the run's files are all written...
        raise KeyboardInterrupt("killed before the manifest switch (simulated)")  # ...and the process dies

    monkeypatch.setattr(HNSW, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        vs.append(x[30:], np.arange(30, 40))
    monkeypatch.setattr(HNSW, "save", real_save)
    assert (tmp_path / MANIFEST).read_text() == before
    assert (tmp_path / "seg-000002.npy").exists()  # the half-done run is on disk but not published
    reader = VectorStore(tmp_path, 8, "cosine", "HNSW8")
    assert len(reader) == 30 and reader.stored_count() == 30
    np.testing.assert_array_equal(reader.search(x[:5], 1).ids[:, 0], np.arange(5))
    assert not set(reader.search(x[30:], 5).ids.ravel()) & set(range(30, 40))
    vs.append(x[30:], np.arange(30, 40))  # the retry publishes; the leftovers of the crash are gone
    assert len(VectorStore(tmp_path, 8, "cosine", "HNSW8")) == 40
    assert {p.name for p in tmp_path.iterdir()} == {MANIFEST, *vs.manifest.names()}


@pytest.mark.parametrize("background", [False, True])
def test_many_small_appends_are_merged_and_all_found(tmp_path, background):
    vs = VectorStore(tmp_path, 8, "cosine", "Flat", background_merges=background)
    x = _vecs(20 * 70, 12)
    for i in range(70):
        vs.append(x[20 * i : 20 * (i + 1)], np.arange(20 * i, 20 * (i + 1)))
    vs.wait_for_merges()
    vs.merge()  # a background merger may have stopped before the last append's plan
    runs = vs.manifest.runs
    assert len(vs) == 1400 and vs.stored_count() == 1400
    assert len(runs) < 16 and max(r.count for r in runs) >= 8 * 20  # merged, tiers of eight
    assert {p.name for p in tmp_path.iterdir()} == {MANIFEST, *vs.manifest.names()}
    q = _vecs(20, 13)
    np.testing.assert_array_equal(vs.search(q, 10).ids, _exact_top(x, np.arange(1400), q, 10))
    x_all, ids_all = vs.segment_vectors()
    np.testing.assert_array_equal(np.sort(ids_all), np.arange(1400))
    np.testing.assert_allclose(x_all[np.argsort(ids_all)], x)


def test_hnsw_runs_grown_by_merges_find_what_a_fresh_build_finds(tmp_path):
    """Merges insert vectors into a loaded graph: recall must match one graph built at once (within noise)."""
    dim, n, k = 16, 3000, 10
    rng = np.random.default_rng(14)
    x = rng.normal(size=(n, dim)).astype(np.float32)
    q = rng.normal(size=(100, dim)).astype(np.float32)
    truth = _exact_top(x, np.arange(n), q, k)
    vs = VectorStore(tmp_path, dim, "cosine", "HNSW8", background_merges=False)
    vs.append(x[:1000], np.arange(1000))
    for start in range(1000, n, 50):
        vs.append(x[start : start + 50], np.arange(start, start + 50))
    assert len(vs.manifest.runs) < 16 and len(vs) == n
    fresh = indexes.create("HNSW8", dim, "cosine")
    fresh.add(x, np.arange(n))

    def recall(ids):
        return np.mean([len(set(a) & set(b)) / k for a, b in zip(ids, truth)])

    r_runs, r_fresh = recall(vs.search(q, k, ef_search=32).ids), recall(fresh.search(q, k, ef_search=32).ids)
    assert r_runs >= r_fresh - 0.03, (r_runs, r_fresh)


def test_a_merge_superseded_by_a_removal_does_not_publish(tmp_path, monkeypatch):
    import rag.store.vectors.merger as merger_module

    vs = VectorStore(tmp_path, 8, "cosine", "Flat", background_merges=False)
    x = _vecs(8 * 20, 15)
    real_merge = merger_module.merge_runs
    calls = []

    def merge_then_remove(*args, **kwargs):
        merged = real_merge(*args, **kwargs)
        if not calls:
            calls.append(1)
            vs.remove(np.array([3]))  # meanwhile, a failed upload's vectors are taken back
        return merged

    monkeypatch.setattr(merger_module, "merge_runs", merge_then_remove)
    for i in range(8):
        vs.append(x[20 * i : 20 * (i + 1)], np.arange(20 * i, 20 * (i + 1)))
    # The first merge was thrown away (it still held id 3); the second one merged the new state.
    assert len(calls) == 1 and len(vs.manifest.runs) == 1 and len(vs) == 159
    assert 3 not in set(vs.search(x[3:4], 160).ids.ravel())


def test_a_version_1_manifest_is_read_and_extended(tmp_path):
    """Collections published before runs (one index over every segment) open and take appends."""
    x = _vecs(30, 16)
    np.save(tmp_path / "seg-000001.npy", x[:20])
    np.save(tmp_path / "seg-000001.ids.npy", np.arange(20, dtype=np.int64))
    np.save(tmp_path / "seg-000002.npy", x[20:])
    np.save(tmp_path / "seg-000002.ids.npy", np.arange(20, 30, dtype=np.int64))
    old = indexes.create("HNSW8", 8, "cosine")
    old.add(x, np.arange(30))
    old.save(str(tmp_path / "index-000002"))
    v1 = {
        "format": "rag-vectors", "version": 1, "generation": 2, "dim": 8, "metric": "cosine",
        "index_spec": "HNSW8", "index": "index-000002", "count": 30, "active_spec": "HNSW8",
        "segments": [
            {"vectors": "seg-000001.npy", "ids": "seg-000001.ids.npy", "count": 20},
            {"vectors": "seg-000002.npy", "ids": "seg-000002.ids.npy", "count": 10},
        ],
        "lexical": None, "analyzer": None,
    }  # fmt: skip
    (tmp_path / MANIFEST).write_text(json.dumps(v1))
    vs = VectorStore(tmp_path, 8, "cosine", "HNSW8")
    assert len(vs) == 30 and vs.search(x[25:26], 1).ids[0, 0] == 25
    vs.append(_vecs(2, 17), np.array([100, 101]))
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert manifest["version"] == 2 and manifest["count"] == 32 and len(manifest["runs"]) == 2
    assert vs.search(_vecs(2, 17)[1:], 1).ids[0, 0] == 101
