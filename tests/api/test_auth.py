"""API keys: an admin key from RAG_ADMIN_KEY, per-collection read and write keys, 401 and 403."""

from __future__ import annotations

import os

import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.auth import ACCESS
from rag.platform import Platform

ADMIN = "admin-secret-for-tests"
TEXT = b"Descale the espresso machine every month with citric acid."


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def client(tmp_path_factory, embedder):
    from rag.settings import Settings

    settings = Settings.from_env().replace(data_dir=tmp_path_factory.mktemp("auth") / "data", admin_key=ADMIN)
    platform = Platform(settings)
    with TestClient(app=create_app(settings, platform=platform)) as c:
        for name in ("alpha", "beta"):
            assert c.post("/v1/collections", json={"name": name}, headers=bearer(ADMIN)).status_code == 201
            r = c.post(
                f"/v1/collections/{name}/documents?wait=true",
                files=[("files", ("e.txt", TEXT, "text/plain"))],
                headers=bearer(ADMIN),
            )
            assert r.status_code == 201, r.text
        c.keys = {
            scope: c.post("/v1/collections/alpha/keys", json={"scope": scope}, headers=bearer(ADMIN)).json()["key"]
            for scope in ("read", "write")
        }
        yield c
    platform.close()


def test_no_key_is_a_401_and_a_wrong_key_too(client):
    r = client.get("/v1/collections/alpha/documents")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert r.headers["www-authenticate"] == "Bearer" and "Authorization: Bearer KEY" in r.json()["error"]["message"]
    r = client.get("/v1/collections/alpha/documents", headers=bearer("rag_not-a-key"))
    assert r.status_code == 401 and "not valid" in r.json()["error"]["message"]
    assert client.get("/healthz").status_code == 200 and client.get("/schema/openapi.json").status_code == 200


def test_a_key_of_one_collection_gets_403_on_another(client):
    read = bearer(client.keys["read"])
    assert client.get("/v1/collections/alpha/documents", headers=read).status_code == 200
    r = client.get("/v1/collections/beta/documents", headers=read)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = client.post("/v1/collections/beta/search", json={"query": "espresso"}, headers=bearer(client.keys["write"]))
    assert r.status_code == 403
    assert client.get("/v1/collections/nowhere", headers=read).status_code == 403  # existence is not revealed


def test_scopes_read_and_write(client):
    read, write = bearer(client.keys["read"]), bearer(client.keys["write"])
    hits = client.post("/v1/collections/alpha/search", json={"query": "espresso descaling"}, headers=read)
    assert hits.status_code == 200 and hits.json()["results"]
    upload = [("files", ("z.txt", b"Zebras live in herds.", "text/plain"))]
    r = client.post("/v1/collections/alpha/documents?wait=true", files=upload, headers=read)
    assert r.status_code == 403 and "write key" in r.json()["error"]["message"]
    r = client.post("/v1/collections/alpha/documents", files=upload, headers=write)
    assert r.status_code == 202
    job = r.json()["job_id"]
    assert client.get(f"/v1/jobs/{job}", headers=read).status_code == 200  # the job of its collection
    assert client.get(f"/v1/jobs/{job}", headers=bearer(ADMIN)).status_code == 200
    listed = client.get("/v1/jobs", headers=read).json()["jobs"]
    assert listed and {j["collection"] for j in listed} == {"alpha"}
    beta_jobs = [
        j["id"] for j in client.get("/v1/jobs", headers=bearer(ADMIN)).json()["jobs"] if j["collection"] == "beta"
    ]
    assert client.get(f"/v1/jobs/{beta_jobs[0]}", headers=read).status_code == 404  # as a job that does not exist
    # only the admin creates collections and keys, deletes collections, runs benchmarks
    for method, path, body in [
        ("post", "/v1/collections", {"name": "gamma"}),
        ("post", "/v1/collections/alpha/keys", {"scope": "write"}),
        ("delete", "/v1/collections/alpha", None),
        ("get", "/v1/collections", None),
        ("post", "/v1/benchmarks", {"dataset": "glove50-10k"}),
    ]:
        r = client.request(method, path, json=body, headers=write)
        assert r.status_code == 403, (method, path, r.text)


def test_rendering_needs_any_valid_key_and_a_document_view_a_read_key_of_its_collection(client):
    body = {"markdown": "**bold**"}
    assert client.post("/v1/render", json=body).status_code == 401
    assert client.post("/v1/render", json=body, headers=bearer("rag_not-a-key")).status_code == 401
    r = client.post("/v1/render", json=body, headers=bearer(client.keys["read"]))
    assert r.status_code == 200 and "<strong>bold</strong>" in r.json()["html"]
    doc = client.get("/v1/collections/beta/documents", headers=bearer(ADMIN)).json()["documents"][0]["id"]
    view = f"/v1/collections/beta/documents/{doc}/html"
    assert client.get(view, headers=bearer(client.keys["read"])).status_code == 403  # a key of alpha
    assert client.get(view, headers=bearer(ADMIN)).status_code == 200


def test_keys_are_shown_once_stored_hashed_and_revocable(client):
    r = client.post("/v1/collections/beta/keys", json={"scope": "read"}, headers=bearer(ADMIN))
    assert r.status_code == 201
    created = r.json()
    key = created["key"]
    assert key.startswith("rag_") and len(key) > 40
    listed = client.get("/v1/collections/beta/keys", headers=bearer(ADMIN)).json()["keys"]
    assert [k["id"] for k in listed] == [created["id"]] and key not in str(listed)
    catalog = client.app.state.platform.store.catalog
    with catalog.cursor() as cur:
        stored = [row[0] for row in cur.execute("SELECT hash FROM api_keys").fetchall()]
    assert key not in stored and all(len(h) == 64 for h in stored)
    assert client.get("/v1/collections/beta", headers=bearer(key)).status_code == 200
    bad = client.post("/v1/collections/beta/keys", json={"scope": "owner"}, headers=bearer(ADMIN))
    assert bad.status_code == 422
    assert client.delete(f"/v1/collections/beta/keys/{created['id']}", headers=bearer(ADMIN)).status_code == 204
    assert client.get("/v1/collections/beta", headers=bearer(key)).status_code == 401


def test_every_operation_has_an_access_rule(client):
    schema = client.get("/schema/openapi.json").json()
    operations = {op["operationId"] for ops in schema["paths"].values() for op in ops.values() if "operationId" in op}
    assert operations <= set(ACCESS), operations - set(ACCESS)


def test_without_an_admin_key_the_api_is_open(tmp_path, embedder):
    from rag.settings import Settings

    platform = Platform(Settings.from_env().replace(data_dir=tmp_path / "data"))
    with TestClient(app=create_app(platform=platform)) as c:
        assert c.post("/v1/collections", json={"name": "open"}).status_code == 201
        assert c.get("/v1/collections/open/documents").status_code == 200
    platform.close()


def test_rag_serve_without_a_key_listens_on_the_loopback_only(monkeypatch, capsys):
    import uvicorn

    from rag.cli import main

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: seen.update(k))
    monkeypatch.setattr(os, "environ", os.environ.copy())  # `rag serve` exports its settings to the environment
    monkeypatch.delenv("RAG_ADMIN_KEY", raising=False)
    main(["serve", "--host", "0.0.0.0", "--port", "8123"])
    assert seen["host"] == "127.0.0.1" and "RAG_ADMIN_KEY is not set" in capsys.readouterr().err
    monkeypatch.setenv("RAG_ADMIN_KEY", "k")
    monkeypatch.delenv("RAG_ALLOWED_HOSTS", raising=False)
    main(["serve", "--host", "0.0.0.0", "--port", "8123"])
    assert seen["host"] == "0.0.0.0" and "RAG_ALLOWED_HOSTS" in capsys.readouterr().err
