"""The store facade: one document per content under concurrency, no vectors without rows, recovery."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from ingest.chunk import Chunk
from rag.store import Store
from rag.store.store import NewDocument

DIM = 8


def _doc(sha: str = "a" * 64) -> NewDocument:
    return NewDocument("notes.txt", "text/plain", sha, 10, None, None, "one two three")


def _chunks(n: int) -> list[Chunk]:
    return [Chunk(i, f"chunk {i}", i, i + 1, None, (), 2) for i in range(n)]


def _vecs(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "data", default_index_spec="Flat")
    yield s
    s.close()


def _collection(store):
    return store.get_or_create_collection("c", DIM, "test-model")


def test_concurrent_adds_of_the_same_bytes_store_one_document(store):
    coll = _collection(store)
    results, errors = [], []
    start = threading.Barrier(5)

    def add(seed):
        start.wait()
        try:
            results.append(store.add_document(coll, _doc(), _chunks(20), _vecs(20, seed)))
        except Exception as exc:  # noqa: BLE001  (the test reports any)
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(5)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors
    assert sorted(r.duplicate for r in results) == [False, True, True, True, True]
    assert len({r.id for r in results}) == 1
    assert store.catalog.count("chunks", coll.id) == 20 and len(store.vectors(coll)) == 20


def test_a_failed_catalog_insert_takes_its_vectors_back(store, monkeypatch):
    coll = _collection(store)
    store.add_document(coll, _doc("b" * 64), _chunks(5), _vecs(5))

    def fail(*args, **kwargs):
        raise RuntimeError("catalog write failed (simulated)")

    monkeypatch.setattr(store.catalog, "insert_documents", fail)
    with pytest.raises(RuntimeError, match="simulated"):
        store.add_document(coll, _doc(), _chunks(20), _vecs(20, 1))
    assert len(store.vectors(coll)) == 5 and store.vectors(coll).stored_ids().size == 5
    monkeypatch.undo()
    hits = store.search(coll, _vecs(1, 2), 10)[0]
    assert len(hits) == 5


def test_recover_removes_orphan_vectors_and_fails_interrupted_jobs(tmp_path):
    store = Store(tmp_path / "data", default_index_spec="Flat")
    coll = _collection(store)
    store.add_document(coll, _doc(), _chunks(4), _vecs(4))
    # What a crash between the vector publish and the catalog commit leaves behind:
    store.vectors(coll).append(_vecs(50, 3), np.arange(10_000, 10_050))
    job = store.catalog.start_job("benchmark", None, {"dataset": "glove50-10k"})
    ingest = store.catalog.start_job("ingest", coll.id, {"files": []}, status="embedding")
    assert len(store.search(coll, _vecs(1, 4), 10)[0]) < 4  # orphans take result slots
    store.close()

    reopened = Store(tmp_path / "data", default_index_spec="Flat")
    reopened.recover()
    coll = reopened.catalog.get_collection("c")
    assert len(reopened.vectors(coll)) == 4
    assert len(reopened.search(coll, _vecs(1, 4), 10)[0]) == 4
    row = reopened.catalog.get_job(job)
    assert row["status"] == "failed" and "interrupted" in row["error"]
    assert row["finished_at"] is not None
    assert reopened.catalog.get_job(ingest)["status"] == "embedding"  # the job runner resumes or fails it
    reopened.close()


def test_a_catalog_from_the_first_release_gains_the_prefix_column(tmp_path):
    import duckdb

    from rag.store.catalog import _SCHEMA

    first_release = _SCHEMA.split("-- Added after the first release")[0]
    (tmp_path / "data").mkdir()
    con = duckdb.connect(str(tmp_path / "data" / "catalog.duckdb"))
    con.execute(first_release)
    con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    con.close()
    store = Store(tmp_path / "data", default_index_spec="Flat")
    coll = _collection(store)
    header = "| a | b |\n|---|---|"
    chunk = Chunk(0, header + "\n| 1 | 2 |", 20, 29, None, (), 9, prefix_chars=len(header) + 1)
    store.add_document(coll, _doc(), [chunk], _vecs(1))
    hit = store.search(coll, _vecs(1), 1)[0][0]
    assert hit.prefix_chars == len(header) + 1 and hit.text[hit.prefix_chars :] == "| 1 | 2 |"
    store.close()


def test_a_batch_of_documents_is_one_append_and_one_transaction(store, monkeypatch):
    from rag.store.records import DocumentToAdd

    coll = _collection(store)
    store.add_document(coll, _doc("0" * 64), _chunks(2), _vecs(2))
    vs = store.vectors(coll)
    appends = []
    real_append = vs.append
    monkeypatch.setattr(vs, "append", lambda *a, **kw: (appends.append(len(a[1])), real_append(*a, **kw))[1])
    batch = [
        DocumentToAdd(_doc("1" * 64), _chunks(3), _vecs(3, 1)),
        DocumentToAdd(_doc("0" * 64), _chunks(2), _vecs(2, 2)),  # stored before this batch
        DocumentToAdd(_doc("2" * 64), _chunks(4), _vecs(4, 3)),
        DocumentToAdd(_doc("1" * 64), _chunks(3), _vecs(3, 4)),  # the same bytes twice in one batch
    ]
    added = store.add_documents(coll, batch)
    assert appends == [7]  # one append with the chunks of the two new documents
    assert [a.duplicate for a in added] == [False, True, False, True]
    assert added[3].id == added[0].id and added[1].id != added[0].id
    assert store.catalog.count("chunks", coll.id) == 9 and len(vs) == 9
    docs = {d.id: d for d in store.catalog.list_documents(coll.id)}
    assert docs[added[2].id].n_chunks == 4
    hit = store.search(coll, _vecs(4, 3)[2:3], 1)[0][0]
    assert hit.document_id == added[2].id and hit.ord == 2
