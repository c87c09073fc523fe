"""Handlers get their parts by name (api.dependencies), and the catalog's typed records become the same JSON.

The documents are stored through the store with made-up vectors: nothing here loads a model.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from litestar.datastructures import State
from litestar.testing import TestClient

from api.app import create_app
from ingest.chunk import Chunk
from rag.platform import Platform
from rag.store.records import DocumentToAdd, NewDocument

ADMIN = "admin-secret-for-dependency-tests"
HEADERS = {"Authorization": f"Bearer {ADMIN}"}
TEXT = "Intro. The kettle boils at noon."
# Handlers that still read app.state: health reads the data directory's id, not the platform; the query
# controller is wired by its own change (api/controllers/query.py).
READS_STATE = {"health"}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from rag.settings import Settings

    settings = Settings.from_env().replace(data_dir=tmp_path_factory.mktemp("di") / "data", admin_key=ADMIN)
    platform = Platform(settings)
    collection = platform.store.create_collection("notes", 4, "made-up-model", index_spec="Flat")
    chunks = [
        Chunk(0, "Intro.", 0, 6, None, (), 2),
        Chunk(1, "| t |\nThe kettle boils at noon.", 7, 32, 2, ("Kettle", "Noon"), 7, prefix_chars=6),
    ]
    doc = NewDocument("kettle.md", "text/markdown", "a" * 64, len(TEXT), "Kettle", None, TEXT)
    vectors = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    (added,) = platform.store.add_documents(collection, [DocumentToAdd(doc, chunks, vectors)])
    with TestClient(app=create_app(settings, platform=platform)) as c:
        c.document_id = added.id
        c.platform = platform
        yield c
    platform.close()


def test_no_handler_but_those_named_takes_the_raw_state(client):
    takes_state = set()
    for route in client.app.routes:
        for handler in getattr(route, "route_handlers", []):
            params = inspect.signature(handler.fn).parameters.values()
            if any(p.name == "state" or p.annotation in (State, "State") for p in params):
                takes_state.add(handler.operation_id)
    assert takes_state <= READS_STATE, takes_state - READS_STATE


def test_a_listed_document_is_its_record_with_an_iso_date(client):
    record = client.platform.store.catalog.list_documents(client.platform.store.catalog.get_collection("notes").id)[0]
    body = client.get("/v1/collections/notes/documents", headers=HEADERS).json()
    assert body == {
        "collection": "notes",
        "documents": [
            {
                "id": client.document_id,
                "filename": "kettle.md",
                "media_type": "text/markdown",
                "sha256": "a" * 64,
                "size_bytes": len(TEXT),
                "title": "Kettle",
                "n_pages": None,
                "n_chunks": 2,
                "created_at": record.created_at.isoformat(),
                "parent_id": None,  # a document attached to another (an e-mail's attachment) names it
            }
        ],
        "total": 1,
        "offset": 0,
        "limit": 100,
    }


def test_a_document_has_its_chunks_without_their_header_length_and_its_text_only_when_asked(client):
    body = client.get(f"/v1/collections/notes/documents/{client.document_id}", headers=HEADERS).json()
    assert list(body) == [
        *("id", "filename", "media_type", "sha256", "size_bytes", "title", "n_pages", "n_chunks", "created_at"),
        *("parent_id", "chunks", "text"),
    ]
    assert body["text"] is None
    first, second = body["chunks"]
    assert first == {
        "id": first["id"],
        "ord": 0,
        "text": "Intro.",
        "page": None,
        "char_start": 0,
        "char_end": 6,
        "heading_path": [],
        "n_tokens": 2,
        "location": None,  # "slide 7", "sheet Revenue"... where the format has no pages
        "ocr_confidence": None,  # set on text read by OCR
    }
    assert second["heading_path"] == ["Kettle", "Noon"] and "prefix_chars" not in second
    with_text = client.get(f"/v1/collections/notes/documents/{client.document_id}?text=true", headers=HEADERS)
    assert with_text.json()["text"] == TEXT and with_text.json()["chunks"] == body["chunks"]


def test_keys_are_listed_without_the_key(client):
    created = client.post("/v1/collections/notes/keys", json={"scope": "read"}, headers=HEADERS).json()
    assert created["collection"] == "notes" and created["key"]
    listed = client.get("/v1/collections/notes/keys", headers=HEADERS).json()
    assert listed["collection"] == "notes"
    (key,) = [k for k in listed["keys"] if k["id"] == created["id"]]
    assert list(key) == ["id", "scope", "prefix", "created_at"] and created["key"].startswith(key["prefix"])
    assert key["scope"] == "read" and "T" in key["created_at"]


def test_the_collection_a_path_names_is_found_once_for_the_handler(client):
    got = client.get("/v1/collections/notes", headers=HEADERS).json()
    assert (got["name"], got["documents"], got["chunks"], got["dim"]) == ("notes", 1, 2, 4)
    missing = client.get("/v1/collections/nothing-here/documents", headers=HEADERS)
    assert missing.status_code == 404 and "'nothing-here' does not exist" in missing.json()["error"]["message"]
    invalid = client.delete("/v1/collections/-bad/keys/1", headers=HEADERS)
    assert invalid.status_code in (400, 422) and "invalid collection name" in invalid.json()["error"]["message"]
