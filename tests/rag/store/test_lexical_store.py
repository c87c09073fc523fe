"""The BM25 index of a collection: published with the vectors, in step with the catalog, migrated."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from ingest.chunk import Chunk
from rag.store import Store
from rag.store.manifest import MANIFEST
from rag.store.store import NewDocument

DIM = 8
TEXTS = [
    "Vitamin D deficiency is common in northern countries.",
    "Running improves cardiovascular health in adults.",
    "Statins lower cholesterol and the risk of heart attacks.",
]


def _doc(sha: str, title: str | None = None) -> NewDocument:
    return NewDocument("notes.txt", "text/plain", sha * 64, 10, title, None, " ".join(TEXTS))


def _chunks(texts: list[str]) -> list[Chunk]:
    return [Chunk(i, t, i, i + len(t), None, (), 5) for i, t in enumerate(texts)]


def _vecs(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)


def _open(path) -> Store:
    return Store(path / "data", default_index_spec="Flat")


@pytest.fixture
def store(tmp_path):
    s = _open(tmp_path)
    yield s
    s.close()


def _lexical_ids(store, coll) -> list[int]:
    lexical = store.vectors(coll).lexical
    live = lexical.search([[t] for t in ["vitamin", "run", "statin", "cholesterol", "sleep"]], 100)
    return sorted({int(i) for i in live.ids.ravel() if i >= 0})


def test_added_chunks_are_found_by_bm25_also_after_a_restart(tmp_path):
    store = _open(tmp_path)
    coll = store.get_or_create_collection("c", DIM, "test-model")
    store.add_document(coll, _doc("a", title="Sleep and health"), _chunks(TEXTS), _vecs(3))
    hits = store.search_text(coll, ["vitamin D deficiency", "running", "nothing matches this"], 5)
    assert [h.text for h in hits[0]][:1] == [TEXTS[0]] and hits[0][0].score > 0
    assert hits[1][0].text == TEXTS[1]  # "running" and "Running" stem alike
    assert hits[2] == []
    # The title is indexed with every chunk of its document.
    assert len(store.search_text(coll, ["sleep"], 5)[0]) == 3
    manifest = json.loads((tmp_path / "data/collections" / str(coll.id) / MANIFEST).read_text())
    assert manifest["lexical"] == f"lexical-{manifest['generation']:06d}" and manifest["analyzer"] == "en-snowball-1"
    store.close()

    reopened = _open(tmp_path)
    reopened.recover()
    coll = reopened.catalog.get_collection("c")
    assert reopened.search_text(coll, ["statins"], 1)[0][0].text == TEXTS[2]
    assert _lexical_ids(reopened, coll) == sorted(reopened.catalog.chunk_ids(coll.id).tolist())
    reopened.close()


def test_allow_filters_text_search(store):
    coll = store.get_or_create_collection("c", DIM, "test-model")
    store.add_document(coll, _doc("a"), _chunks(TEXTS), _vecs(3))
    ids = sorted(store.catalog.chunk_ids(coll.id).tolist())
    hits = store.search_text(coll, ["vitamin running statins"], 5, allow=[ids[1]])[0]
    assert [h.chunk_id for h in hits] == [ids[1]]


def test_failed_insert_and_repair_take_ids_out_of_the_lexical_index(tmp_path, monkeypatch):
    store = _open(tmp_path)
    coll = store.get_or_create_collection("c", DIM, "test-model")
    store.add_document(coll, _doc("a"), _chunks(TEXTS[:1]), _vecs(1))

    def fail(*args, **kwargs):
        raise RuntimeError("catalog write failed (simulated)")

    monkeypatch.setattr(store.catalog, "insert_documents", fail)
    with pytest.raises(RuntimeError, match="simulated"):
        store.add_document(coll, _doc("b"), _chunks(TEXTS[1:]), _vecs(2, 1))
    monkeypatch.undo()
    assert len(store.vectors(coll).lexical) == 1 and store.search_text(coll, ["statins running"], 5)[0] == []
    # What a crash between the publish and the catalog commit leaves: vectors and terms without rows.
    vs = store.vectors(coll)
    vs.append(_vecs(2, 2), np.array([9000, 9001]), [["statin"], ["run"]], analyzer=vs.analyzer)
    assert len(vs.lexical) == 3
    store.close()

    reopened = _open(tmp_path)
    assert reopened.repair() == 2
    coll = reopened.catalog.get_collection("c")
    lexical = reopened.vectors(coll).lexical
    assert len(lexical) == 1 and _lexical_ids(reopened, coll) == reopened.catalog.chunk_ids(coll.id).tolist()
    reopened.close()


def _drop_lexical(root) -> None:
    """Turn a collection's manifest into one written before lexical indexes existed."""
    manifest = json.loads((root / MANIFEST).read_text())
    shutil.rmtree(root / manifest.pop("lexical"))
    manifest.pop("analyzer")
    (root / MANIFEST).write_text(json.dumps(manifest))


@pytest.mark.parametrize("how", ["recover", "first search", "next upload"])
def test_a_collection_from_before_lexical_indexes_is_migrated(tmp_path, how):
    store = _open(tmp_path)
    coll = store.get_or_create_collection("c", DIM, "test-model")
    store.add_document(coll, _doc("a", title="Heart"), _chunks(TEXTS), _vecs(3))
    store.close()
    root = tmp_path / "data/collections" / str(coll.id)
    _drop_lexical(root)

    reopened = _open(tmp_path)
    coll = reopened.catalog.get_collection("c")
    assert reopened.vectors(coll).lexical is None
    if how == "recover":
        reopened.recover()
        assert reopened.vectors(coll).lexical is not None
    elif how == "next upload":
        reopened.add_document(coll, _doc("b"), _chunks(["Cholesterol in eggs."]), _vecs(1, 5))
        assert len(reopened.vectors(coll).lexical) == 4
    hits = reopened.search_text(coll, ["statins cholesterol"], 5)[0]
    assert hits[0].text == TEXTS[2]
    assert len(reopened.search_text(coll, ["heart"], 5)[0]) == 3  # built with titles, as at upload
    manifest = json.loads((root / MANIFEST).read_text())
    assert manifest["analyzer"] == "en-snowball-1" and (root / manifest["lexical"] / "meta.json").is_file()
    reopened.close()
