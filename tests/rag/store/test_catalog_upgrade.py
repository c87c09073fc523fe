"""Catalogs written by earlier releases open, read and take new rows; a message's attachments go with it.

The first release's schema is written here as it was (no ``prefix_chars``, ``location``,
``ocr_confidence`` or ``parent_id``), filled with one document, and opened by today's
:class:`Catalog`, which adds the columns in place.
"""

from __future__ import annotations

import duckdb
import numpy as np

from ingest.chunk import Chunk
from rag.store import Store
from rag.store.catalog import Catalog
from rag.store.records import DocumentToAdd, NewDocument, stored_chunk
from tests.rag.store.test_store import DIM, _vecs

FIRST_RELEASE = """
CREATE SEQUENCE collection_ids START 1;
CREATE SEQUENCE document_ids START 1;
CREATE SEQUENCE chunk_ids START 1;
CREATE SEQUENCE job_ids START 1;
CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE collections (
    id BIGINT PRIMARY KEY, name VARCHAR UNIQUE NOT NULL, index_spec VARCHAR NOT NULL,
    metric VARCHAR NOT NULL, dim INTEGER NOT NULL, embed_model VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL);
CREATE TABLE documents (
    id BIGINT PRIMARY KEY, collection_id BIGINT NOT NULL, filename VARCHAR NOT NULL,
    media_type VARCHAR NOT NULL, sha256 VARCHAR NOT NULL, size_bytes BIGINT NOT NULL,
    title VARCHAR, n_pages INTEGER, n_chunks INTEGER NOT NULL, text VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL, UNIQUE (collection_id, sha256));
CREATE TABLE chunks (
    id BIGINT PRIMARY KEY, document_id BIGINT NOT NULL, collection_id BIGINT NOT NULL,
    ord INTEGER NOT NULL, text VARCHAR NOT NULL, page INTEGER, char_start INTEGER NOT NULL,
    char_end INTEGER NOT NULL, heading_path VARCHAR[], n_tokens INTEGER NOT NULL);
CREATE TABLE jobs (
    id BIGINT PRIMARY KEY, kind VARCHAR NOT NULL, collection_id BIGINT, status VARCHAR NOT NULL,
    detail VARCHAR, error VARCHAR, created_at TIMESTAMPTZ NOT NULL, finished_at TIMESTAMPTZ);
INSERT INTO meta VALUES ('schema_version', '1');
INSERT INTO collections VALUES (nextval('collection_ids'), 'old', 'Flat', 'cosine', 8, 'fake-model', now());
INSERT INTO documents VALUES (nextval('document_ids'), 1, 'old.pdf', 'application/pdf', 'aa', 9, 'Old', 2, 1,
    'Old text.', now());
INSERT INTO chunks VALUES (nextval('chunk_ids'), 1, 1, 0, 'Old text.', 2, 0, 9, ['Intro'], 3);
"""


def _old_catalog(path) -> None:
    con = duckdb.connect(str(path))
    con.execute(FIRST_RELEASE)
    con.close()


def test_a_first_release_catalog_opens_reads_and_takes_rows_with_locations(tmp_path):
    path = tmp_path / "catalog.duckdb"
    _old_catalog(path)
    catalog = Catalog(path)
    coll = catalog.get_collection("old")
    (doc,) = catalog.list_documents(coll.id)
    assert (doc.filename, doc.parent_id) == ("old.pdf", None)
    (chunk,) = catalog.get_document(coll.id, doc.id).chunks
    assert (chunk.text, chunk.page, chunk.heading_path, chunk.prefix_chars) == ("Old text.", 2, ("Intro",), 0)
    assert (chunk.location, chunk.ocr_confidence) == (None, None)
    catalog.close()

    # The store writes new rows, with the added columns, into the upgraded tables.
    store = Store(tmp_path, default_index_spec="Flat")
    coll = store.catalog.get_collection("old")
    new = NewDocument("deck.pptx", "application/vnd.ms-powerpoint", "bb", 5, None, None, "Slide text", doc.id)
    chunks = [Chunk(0, "Slide text", 0, 10, None, (), 2, location="slide 7", ocr_confidence=71.5)]
    (added,) = store.add_documents(coll, [DocumentToAdd(new, chunks, _vecs(1)[:, :DIM])])
    (read,) = store.catalog.get_document(coll.id, added.id).chunks
    assert (read.location, read.ocr_confidence) == ("slide 7", 71.5)
    # the old chunk has no vector (the fixture wrote rows only): its row is read as search reads rows
    rows = store.catalog.chunks_by_id([chunk.id, read.id])
    found = [stored_chunk(row, 1.0) for row in rows.values()]
    assert {(c.filename, c.location, c.ocr_confidence) for c in found} == {
        ("old.pdf", None, None),
        ("deck.pptx", "slide 7", 71.5),
    }
    listed = {d.filename: d.parent_id for d in store.catalog.list_documents(coll.id)}
    assert listed == {"old.pdf": None, "deck.pptx": doc.id}
    store.close()


def test_deleting_a_message_deletes_its_attachments_at_every_depth_and_nothing_else(tmp_path):
    store = Store(tmp_path, default_index_spec="Flat")
    coll = store.get_or_create_collection("c", DIM, "fake-model")

    def add(name: str, sha: str, parent: int | None) -> int:
        doc = NewDocument(name, "text/plain", sha, 3, None, None, "abc", parent)
        chunk = Chunk(0, "abc", 0, 3, None, (), 1)
        return store.add_documents(coll, [DocumentToAdd(doc, [chunk], _vecs(1, seed=len(sha)))])[0].id

    message = add("m.eml", "m", None)
    attached = add("m.eml/a.eml", "ma", message)
    nested = add("m.eml/a.eml/b.txt", "mab", attached)
    other = add("other.txt", "o", None)
    assert store.catalog.attachments_of(coll.id, message) == [attached]
    assert store.catalog.with_attachments(coll.id, [message]) == [message, attached, nested]

    assert store.delete_documents(coll, [message]) == 3
    assert [d.id for d in store.catalog.list_documents(coll.id)] == [other]
    assert np.array_equal(np.sort(store.vectors(coll).stored_ids()), store.catalog.chunk_ids(coll.id))
    store.close()
