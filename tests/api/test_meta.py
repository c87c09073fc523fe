"""GET /v1/meta: the names the page reads instead of copying Python's lists."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.controllers.query import STREAM_EVENTS
from rag.jobs import FILE_STATES
from rag.pipeline.answer import ABSTAIN_REASONS, ANSWER_MODES
from rag.platform import Platform
from rag.settings import Settings
from rag.store.catalog import JOB_STATES


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    settings = Settings.from_env().replace(data_dir=tmp_path_factory.mktemp("meta") / "data")
    platform = Platform(settings)
    with TestClient(app=create_app(platform=platform)) as c:
        yield c
    platform.close()


def test_meta_lists_the_servers_own_names(client):
    r = client.get("/v1/meta")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["job_states"] == list(JOB_STATES)
    assert body["file_states"] == list(FILE_STATES)
    assert body["modes"] == list(ANSWER_MODES)
    assert body["modes"][0] == "reader"  # the page takes the first as the default, as AnswerOptions does
    assert body["stream_events"] == list(STREAM_EVENTS)
    assert set(body["citation_kinds"]) >= {"reader", "marker", "corrected", "support", "attended", "none"}
    assert body["abstention_reasons"] == list(ABSTAIN_REASONS)


def test_meta_needs_no_key(tmp_path, monkeypatch):
    monkeypatch.setenv("RAG_ADMIN_KEY", "admin-secret-key-0123456789")
    settings = Settings.from_env().replace(data_dir=tmp_path / "data")
    platform = Platform(settings)
    try:
        with TestClient(app=create_app(platform=platform)) as c:
            assert c.get("/v1/collections").status_code == 401
            assert c.get("/v1/meta").status_code == 200
    finally:
        platform.close()


def test_meta_is_in_the_openapi_document(client):
    paths = client.get("/schema/openapi.json").json()["paths"]
    assert "get" in paths["/v1/meta"]
