"""The DuckDB catalog on its own: collections, documents and chunks, jobs, and all-or-nothing writes.

Rows are built the way the store builds them (:func:`rag.store.records.catalog_rows`),
so these tests read the catalog exactly as :class:`rag.store.Store` fills it, without
any vector index.
"""

from __future__ import annotations

from contextlib import contextmanager

import duckdb
import numpy as np
import pytest

from core.errors import ConfigError, ConflictError, InvalidInputError, NotFoundError
from ingest.chunk import Chunk
from rag.store.catalog import Catalog, Collection
from rag.store.records import DocumentToAdd, NewDocument, catalog_rows, stored_chunk
from tests.rag.store.test_store import DIM, _chunks, _doc, _vecs


def _collection(catalog: Catalog, name: str = "c") -> Collection:
    return catalog.create_collection(name, "Flat", "cosine", DIM, "fake-model")


def _item(sha: str, n_chunks: int, filename: str = "notes.txt", title: str | None = None) -> DocumentToAdd:
    doc = _doc(sha)
    if filename != doc.filename or title is not None:
        doc = NewDocument(filename, doc.media_type, doc.sha256, doc.size_bytes, title, doc.n_pages, doc.text)
    return DocumentToAdd(doc, _chunks(n_chunks), _vecs(n_chunks))


def _add(catalog: Catalog, collection: Collection, *items: DocumentToAdd) -> list[int]:
    """Insert documents as Store.add_documents does (ids from the sequences, rows from catalog_rows)."""
    doc_ids = catalog.allocate_ids("document_ids", len(items))
    n = sum(len(item.chunks) for item in items)
    chunk_ids = np.asarray(catalog.allocate_ids("chunk_ids", n) if n else [], dtype=np.int64)
    rows, table = catalog_rows(collection.id, list(items), doc_ids, chunk_ids)
    catalog.insert_documents(rows, table)
    return doc_ids


def _chunk_ids_of(catalog: Catalog, collection: Collection, document_id: int) -> list[int]:
    return [c.id for c in catalog.get_document(collection.id, document_id).chunks]


# -- collections ----------------------------------------------------------------


def test_a_collection_is_created_found_listed_and_kept_across_a_reopen(tmp_path):
    path = tmp_path / "catalog.duckdb"
    catalog = Catalog(path)
    b = catalog.create_collection("b", "Flat", "ip", DIM, "fake-model", chunk_tokens=128, chunk_overlap=16)
    a = catalog.create_collection("a", "HNSW32", "cosine", 4, "other-model")
    assert (b.name, b.index_spec, b.metric, b.dim, b.embed_model) == ("b", "Flat", "ip", DIM, "fake-model")
    assert (b.chunk_tokens, b.chunk_overlap) == (128, 16)
    assert (a.chunk_tokens, a.chunk_overlap) == (None, None)  # the server's settings
    assert a.id != b.id
    assert catalog.find_collection("b") == b and catalog.get_collection("a") == a
    assert catalog.find_collection("missing") is None
    assert [c.name for c in catalog.list_collections()] == ["a", "b"]  # by name, not by creation
    catalog.close()

    reopened = Catalog(path)
    assert reopened.list_collections() == [a, b]
    assert reopened.create_collection("z", "Flat", "cosine", DIM, "m").id not in (a.id, b.id)
    reopened.close()


def test_a_catalog_of_another_schema_version_is_refused(tmp_path):
    path = tmp_path / "catalog.duckdb"
    Catalog(path).close()
    con = duckdb.connect(str(path))
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(ConfigError, match="schema version 99"):
        Catalog(path)


def test_a_taken_name_conflicts_and_leaves_the_first_collection_as_it_was(catalog):
    first = _collection(catalog)
    with pytest.raises(ConflictError, match="exists already"):
        catalog.create_collection("c", "HNSW32", "ip", 16, "another-model")
    assert catalog.list_collections() == [first]


@pytest.mark.parametrize("name", ["", "-starts-with-dash", "has space", "a/b", "x" * 65, ".hidden"])
def test_an_invalid_collection_name_is_refused(catalog, name):
    with pytest.raises(InvalidInputError, match="invalid collection name"):
        catalog.create_collection(name, "Flat", "cosine", DIM, "fake-model")
    with pytest.raises(InvalidInputError, match="invalid collection name"):
        catalog.get_collection(name)  # reported as invalid, not as missing
    assert catalog.list_collections() == []


def test_the_longest_valid_name_is_accepted(catalog):
    name = "A" + "b_.-9" * 12 + "xyz"  # 64 characters
    assert len(name) == 64
    assert catalog.create_collection(name, "Flat", "cosine", DIM, "m").name == name


def test_a_missing_collection_is_not_found_and_the_message_says_how_to_create_it(catalog):
    with pytest.raises(NotFoundError) as info:
        catalog.get_collection("nope")
    assert "'nope' does not exist" in str(info.value) and "create it" in str(info.value)


# -- documents and chunks ----------------------------------------------------


def test_documents_are_listed_by_id_in_pages_without_their_text(catalog):
    coll, other = _collection(catalog, "c"), _collection(catalog, "other")
    ids = _add(catalog, coll, _item("1" * 64, 2), _item("2" * 64, 3))
    _add(catalog, other, _item("9" * 64, 1))
    ids += _add(catalog, coll, _item("3" * 64, 1), _item("4" * 64, 4), _item("5" * 64, 2))

    listed = catalog.list_documents(coll.id)
    assert [d.id for d in listed] == sorted(ids)
    assert [d.n_chunks for d in listed] == [2, 3, 1, 4, 2]
    assert [d.sha256 for d in listed] == [c * 64 for c in "12345"]
    assert all(not hasattr(d, "text") for d in listed)
    assert [d.id for d in catalog.list_documents(coll.id, offset=1, limit=2)] == sorted(ids)[1:3]
    assert [d.id for d in catalog.list_documents(coll.id, offset=3)] == sorted(ids)[3:]
    assert [d.id for d in catalog.list_documents(coll.id, limit=1)] == sorted(ids)[:1]
    assert catalog.list_documents(coll.id, offset=5) == []
    # past DuckDB's BIGINT (an API client may ask for any offset): an empty page, not a conversion error
    assert catalog.list_documents(coll.id, offset=2**63) == catalog.list_documents(coll.id, offset=2**70) == []
    assert len(catalog.list_documents(coll.id, limit=2**64)) == 5
    assert catalog.count("documents", coll.id) == 5 and catalog.count("chunks", coll.id) == 12
    assert catalog.count("documents", other.id) == 1 and catalog.count("chunks", other.id) == 1


def test_a_document_gives_its_chunks_by_position_and_its_text_only_when_asked(catalog):
    coll = _collection(catalog)
    # chunks handed over out of position: their ids are allocated in this order, so id order is not ord order
    chunks = [
        Chunk(2, "third", 20, 25, 3, ("Intro", "Part"), 1),
        Chunk(0, "| h |\nfirst", 0, 5, 1, ("Intro",), 2, prefix_chars=6),
        Chunk(1, "second", 10, 16, None, (), 1),
    ]
    doc = NewDocument("paper.pdf", "application/pdf", "f" * 64, 1234, "A Paper", 3, "the whole text")
    (doc_id,) = _add(catalog, coll, DocumentToAdd(doc, chunks, _vecs(3)))

    row = catalog.get_document(coll.id, doc_id)
    assert row.text is None
    doc = row.document
    assert (doc.id, doc.filename, doc.title, doc.n_pages, doc.n_chunks) == (
        doc_id,
        "paper.pdf",
        "A Paper",
        3,
        3,
    )
    assert [c.ord for c in row.chunks] == [0, 1, 2]
    assert [c.text for c in row.chunks] == ["| h |\nfirst", "second", "third"]
    first, second, third = row.chunks
    assert (first.char_start, first.char_end, first.page, first.prefix_chars) == (0, 5, 1, 6)
    assert first.heading_path == ("Intro",) and third.heading_path == ("Intro", "Part")
    assert second.page is None and second.prefix_chars == 0 and second.heading_path == ()
    ids = [c.id for c in row.chunks]
    assert ids == [min(ids) + 1, min(ids) + 2, min(ids)]  # by position, not by id
    assert catalog.get_document(coll.id, doc_id, with_text=True).text == "the whole text"


def test_a_missing_document_or_one_of_another_collection_is_not_found(catalog):
    coll, other = _collection(catalog, "c"), _collection(catalog, "other")
    (doc_id,) = _add(catalog, coll, _item("1" * 64, 1))
    with pytest.raises(NotFoundError, match="not in this collection"):
        catalog.get_document(coll.id, doc_id + 1000)
    with pytest.raises(NotFoundError, match="not in this collection"):
        catalog.get_document(other.id, doc_id)


def test_find_by_sha_is_per_collection(catalog):
    coll, other = _collection(catalog, "c"), _collection(catalog, "other")
    (doc_id,) = _add(catalog, coll, _item("a" * 64, 1))
    assert catalog.find_by_sha(coll.id, "a" * 64) == doc_id
    assert catalog.find_by_sha(other.id, "a" * 64) is None
    assert catalog.find_by_sha(coll.id, "b" * 64) is None


def test_chunk_ids_are_the_collections_chunks(catalog):
    coll, other = _collection(catalog, "c"), _collection(catalog, "other")
    d1, d2 = _add(catalog, coll, _item("1" * 64, 3), _item("2" * 64, 2))
    (d3,) = _add(catalog, other, _item("3" * 64, 4))
    ids = catalog.chunk_ids(coll.id)
    assert ids.dtype == np.int64
    assert sorted(ids.tolist()) == sorted(_chunk_ids_of(catalog, coll, d1) + _chunk_ids_of(catalog, coll, d2))
    assert sorted(catalog.chunk_ids(other.id).tolist()) == _chunk_ids_of(catalog, other, d3)
    assert catalog.chunk_ids(12345).size == 0


def test_chunks_by_id_joins_each_chunk_with_its_documents_filename_and_title(catalog):
    coll = _collection(catalog)
    d1, d2 = _add(
        catalog,
        coll,
        _item("1" * 64, 2, filename="one.txt", title="First"),
        _item("2" * 64, 2, filename="two.md", title=None),
    )
    one, two = _chunk_ids_of(catalog, coll, d1), _chunk_ids_of(catalog, coll, d2)
    wanted = [one[1], two[0], 10_000]  # 10_000 is no chunk
    rows = catalog.chunks_by_id(wanted)
    assert set(rows) == {one[1], two[0]}
    assert (rows[one[1]]["filename"], rows[one[1]]["title"], rows[one[1]]["document_id"]) == ("one.txt", "First", d1)
    assert (rows[two[0]]["filename"], rows[two[0]]["title"], rows[two[0]]["document_id"]) == ("two.md", None, d2)
    assert (rows[one[1]]["ord"], rows[one[1]]["text"]) == (1, "chunk 1")
    hit = stored_chunk(rows[one[1]], 0.5)  # what a search returns from these rows
    assert (hit.chunk_id, hit.filename, hit.title, hit.heading_path, hit.score) == (one[1], "one.txt", "First", (), 0.5)
    assert catalog.chunks_by_id([]) == {}


def test_deleting_documents_returns_their_chunk_ids_and_touches_nothing_else(catalog):
    coll, other = _collection(catalog, "c"), _collection(catalog, "other")
    d1, d2 = _add(catalog, coll, _item("1" * 64, 3), _item("2" * 64, 2))
    (d3,) = _add(catalog, other, _item("3" * 64, 4))
    d1_chunks, d2_chunks = _chunk_ids_of(catalog, coll, d1), _chunk_ids_of(catalog, coll, d2)
    d3_chunks = _chunk_ids_of(catalog, other, d3)

    # d3 belongs to the other collection and 99_999 to none: both are ignored
    deleted = catalog.delete_documents(coll.id, [d1, d3, 99_999])
    assert deleted.dtype == np.int64 and sorted(deleted.tolist()) == sorted(d1_chunks)
    assert [d.id for d in catalog.list_documents(coll.id)] == [d2]
    assert _chunk_ids_of(catalog, coll, d2) == d2_chunks
    assert sorted(catalog.chunk_ids(coll.id).tolist()) == sorted(d2_chunks)
    assert _chunk_ids_of(catalog, other, d3) == d3_chunks and catalog.count("chunks", other.id) == 4
    assert catalog.chunks_by_id(d1_chunks) == {}
    with pytest.raises(NotFoundError):
        catalog.get_document(coll.id, d1)
    assert catalog.find_by_sha(coll.id, "1" * 64) is None  # the same bytes may be added again

    again = catalog.delete_documents(coll.id, [d1])
    assert again.dtype == np.int64 and again.size == 0
    empty = catalog.delete_documents(coll.id, [])
    assert empty.dtype == np.int64 and empty.size == 0


class _FailingCursor:
    """A real DuckDB cursor whose first statement starting with ``fail_on`` raises (a simulated crash)."""

    def __init__(self, cur, fail_on: str) -> None:
        self._cur, self._fail_on = cur, fail_on

    def execute(self, sql, *args, **kwargs):
        if sql.lstrip().startswith(self._fail_on):
            raise RuntimeError(f"{self._fail_on} failed (simulated)")
        return self._cur.execute(sql, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._cur, name)


def _fail_statements(monkeypatch, catalog: Catalog, fail_on: str) -> None:
    real = catalog.cursor

    @contextmanager
    def cursor():
        with real() as cur:
            yield _FailingCursor(cur, fail_on)

    monkeypatch.setattr(catalog, "cursor", cursor)


def test_a_delete_that_fails_midway_deletes_nothing(catalog, monkeypatch):
    coll = _collection(catalog)
    d1, d2 = _add(catalog, coll, _item("1" * 64, 3), _item("2" * 64, 2))
    before = sorted(catalog.chunk_ids(coll.id).tolist())

    # the chunk rows are deleted first; the documents' DELETE then fails
    _fail_statements(monkeypatch, catalog, "DELETE FROM documents")
    with pytest.raises(RuntimeError, match="simulated"):
        catalog.delete_documents(coll.id, [d1])
    with pytest.raises(RuntimeError, match="simulated"):
        catalog.delete_collection(coll.id)
    monkeypatch.undo()

    assert sorted(catalog.chunk_ids(coll.id).tolist()) == before
    assert [d.id for d in catalog.list_documents(coll.id)] == [d1, d2]
    assert len(catalog.get_document(coll.id, d1).chunks) == 3
    assert catalog.get_collection("c") == coll


def test_an_insert_that_fails_stores_no_document(catalog, monkeypatch):
    coll = _collection(catalog)
    (kept,) = _add(catalog, coll, _item("1" * 64, 2))

    _fail_statements(monkeypatch, catalog, "INSERT INTO chunks")
    with pytest.raises(RuntimeError, match="simulated"):
        _add(catalog, coll, _item("2" * 64, 3))
    monkeypatch.undo()
    assert [d.id for d in catalog.list_documents(coll.id)] == [kept]
    assert catalog.find_by_sha(coll.id, "2" * 64) is None

    # the same through a real constraint: a batch whose second document repeats stored bytes
    with pytest.raises(duckdb.ConstraintException):
        _add(catalog, coll, _item("3" * 64, 2), _item("1" * 64, 1))
    assert [d.id for d in catalog.list_documents(coll.id)] == [kept]
    assert catalog.count("chunks", coll.id) == 2 and catalog.find_by_sha(coll.id, "3" * 64) is None


def test_deleting_a_collection_removes_its_rows_only(catalog):
    coll, other = _collection(catalog, "c"), _collection(catalog, "other")
    _add(catalog, coll, _item("1" * 64, 3), _item("2" * 64, 2))
    (d3,) = _add(catalog, other, _item("1" * 64, 4))  # the same bytes in another collection
    other_chunks = sorted(catalog.chunk_ids(other.id).tolist())

    assert catalog.delete_collection(coll.id) == 2
    assert catalog.find_collection("c") is None
    assert catalog.list_collections() == [other]
    assert catalog.count("documents", coll.id) == 0 and catalog.count("chunks", coll.id) == 0
    assert catalog.list_documents(coll.id) == []
    assert sorted(catalog.chunk_ids(other.id).tolist()) == other_chunks
    assert [d.id for d in catalog.list_documents(other.id)] == [d3]
    # the name is free again
    assert _collection(catalog, "c").id != coll.id
