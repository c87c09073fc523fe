"""Vector segments and the manifest switch: readers see a whole generation or the previous one."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

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
    assert manifest["generation"] == 2 and manifest["count"] == 15 and len(manifest["segments"]) == 2
    # Only the current index directory survives; both segments stay.
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["index-000002"]
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
    assert type(vs._index).__name__ != "Flat" and len(vs) == 300
    assert vs.search(x[250:251], 1).ids[0, 0] == 250


def test_learned_index_waits_for_enough_vectors_then_trains(tmp_path):
    import indexes
    from rag.store.vectors import min_train_size

    spec = "IVF4,PQ4x4"
    need = min_train_size(indexes.parse_spec(spec))
    assert need == 39 * 16
    vs = VectorStore(tmp_path, 8, "cosine", spec)
    x = _vecs(need + 50, 6)
    vs.append(x[:100], np.arange(100))
    assert type(vs._index).__name__ == "Flat"  # exact until there is enough to train on
    assert json.loads((tmp_path / MANIFEST).read_text())["active_spec"] == "Flat"
    vs.append(x[100:], np.arange(100, need + 50))
    assert type(vs._index).__name__ == "IVFPQ" and len(vs) == need + 50
    assert json.loads((tmp_path / MANIFEST).read_text())["active_spec"] == spec
    vs.append(_vecs(3, 7), np.array([5000, 5001, 5002]))  # later appends add to the trained index
    assert type(vs._index).__name__ == "IVFPQ" and len(vs) == need + 53


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
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    named = manifest_module.named_paths(tmp_path, manifest)
    assert any(p.is_dir() for p in named) and any(p.name.endswith(".ids.npy") for p in named)
    assert switched and {os.path.realpath(p) for p in named} <= switched[-1]
