"""An open server (no RAG_ADMIN_KEY, the ``make serve`` default) cannot be driven by a web page.

Each request below is one a page in the user's browser can make: by DNS rebinding (its own
name pointed at the server, so the Host header is that name), or across sites without a CORS
preflight (a form, a ``text/plain`` or typeless body), or from another origin with an
``Origin`` header. The server refuses each, and does nothing it asked.
"""

from __future__ import annotations

import json

import pytest
from litestar.testing import TestClient

from api.app import create_app
from rag.platform import Platform

TEXT = b"Descale the espresso machine every month with citric acid."


@pytest.fixture(scope="module")
def client(tmp_path_factory, embedder):
    from rag.settings import Settings

    settings = Settings.from_env().replace(data_dir=tmp_path_factory.mktemp("open") / "data", admin_key="")
    platform = Platform(settings)
    with TestClient(app=create_app(settings, platform=platform)) as c:
        r = c.post("/v1/collections/docs/documents?wait=true", files=[("files", ("e.txt", TEXT, "text/plain"))])
        assert r.status_code == 201, r.text
        yield c
    platform.close()


def names(client) -> set[str]:
    return {c["name"] for c in client.get("/v1/collections").json()["collections"]}


def error(response, status: int) -> str:
    assert response.status_code == status, response.text
    return response.json()["error"]["message"]


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example", "localhost.evil."])
def test_a_host_that_is_not_the_servers_is_refused(client, host):
    # DNS rebinding: the page's own name resolves to 127.0.0.1, the browser lets it read every answer
    for path in ("/v1/collections", "/v1/collections/docs/documents", "/healthz", "/schema/openapi.json"):
        assert "RAG_ALLOWED_HOSTS" in error(client.get(path, headers={"Host": host}), 400), path
    r = client.post("/v1/collections", json={"name": "planted"}, headers={"Host": host})
    assert r.status_code == 400 and "planted" not in names(client)


@pytest.mark.parametrize("host", ["localhost:8000", "127.0.0.1", "127.0.0.1:8123", "[::1]:8000", "app.localhost"])
def test_loopback_names_are_the_servers(client, host):
    assert client.get("/v1/collections", headers={"Host": host}).status_code == 200


def test_allowed_hosts_and_the_bound_address_are_the_servers(tmp_path):
    from rag.settings import Settings

    settings = Settings(data_dir=tmp_path / "data", host="192.0.2.7", allowed_hosts="rag.example.com, Other.Example:80")
    platform = Platform(settings)
    with TestClient(app=create_app(settings, platform=platform)) as c:
        for host in ("rag.example.com", "rag.example.com:8000", "other.example", "192.0.2.7:8000", "localhost"):
            assert c.get("/v1/collections", headers={"Host": host}).status_code == 200, host
        assert c.get("/v1/collections").status_code == 400  # testserver.local is not in this app's list
    platform.close()


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None]
)
def test_json_routes_take_json_only(client, content_type):
    # a page may send these across sites without asking first; application/json it may not
    headers = {"Content-Type": content_type} if content_type else {}
    body = json.dumps({"name": "planted"}).encode()
    r = client.post("/v1/collections", content=body, headers=headers)
    assert "Content-Type: application/json" in error(r, 415)
    assert "planted" not in names(client)
    r = client.post("/v1/collections/docs/search", content=json.dumps({"query": "espresso"}), headers=headers)
    assert r.status_code == 415
    r = client.post("/v1/collections/docs/keys", content=json.dumps({"scope": "write"}), headers=headers)
    assert r.status_code == 415


def test_json_with_a_charset_or_a_json_suffix_is_json(client):
    body = json.dumps({"query": "espresso"})
    for content_type in ("application/json; charset=utf-8", "Application/JSON", "application/problem+json"):
        r = client.post("/v1/collections/docs/search", content=body, headers={"Content-Type": content_type})
        assert r.status_code == 200 and r.json()["results"], (content_type, r.text)


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},  # a sandboxed frame or a file: page
        {"Origin": "http://testserver.local:8080"},  # another port is another origin
        {"Origin": "http://localhost:3000", "Host": "localhost:8000"},
        {"Origin": "https://localhost:8000", "Host": "localhost:8000"},  # another scheme too
        {"Sec-Fetch-Site": "cross-site"},
    ],
)
def test_writes_from_another_origin_are_refused(client, headers):
    r = client.post("/v1/collections", json={"name": "planted"}, headers=headers)
    assert "refused" in error(r, 403)
    assert "planted" not in names(client)
    upload = [("files", ("p.txt", b"Planted text.", "text/plain"))]
    assert client.post("/v1/collections/docs/documents", files=upload, headers=headers).status_code == 403
    assert client.delete("/v1/collections/docs", headers=headers).status_code == 403
    assert "docs" in names(client)
    # a read is answered (without CORS the page cannot read it), and the same write from the server's own page is
    assert client.get("/v1/collections", headers=headers).status_code == 200


def test_the_servers_own_page_may_write(client):
    own = {"Origin": "http://testserver.local", "Sec-Fetch-Site": "same-origin"}
    assert client.post("/v1/collections", json={"name": "from-page"}, headers=own).status_code == 201
    local = {"Host": "localhost:8000", "Origin": "http://localhost:8000"}
    assert client.delete("/v1/collections/from-page", headers=local).status_code == 200
    assert "from-page" not in names(client)


def test_a_proxy_origin_listed_in_allowed_hosts_may_write(tmp_path):
    from rag.settings import Settings

    settings = Settings(data_dir=tmp_path / "data", allowed_hosts="rag.example.com")
    platform = Platform(settings)
    with TestClient(app=create_app(settings, platform=platform), base_url="http://rag.example.com") as c:
        # TLS ends at the proxy: the page is https://rag.example.com, the request arrives as http
        r = c.post("/v1/collections", json={"name": "p"}, headers={"Origin": "https://rag.example.com"})
        assert r.status_code == 201, r.text
        r = c.post("/v1/collections", json={"name": "q"}, headers={"Origin": "https://evil.example"})
        assert r.status_code == 403
    platform.close()


def test_an_open_server_creates_no_keys(client):
    # made now by anyone, a key would stay valid once RAG_ADMIN_KEY is set
    r = client.post("/v1/collections/docs/keys", json={"scope": "write"})
    assert "RAG_ADMIN_KEY" in error(r, 409)
    catalog = client.app.state.platform.store.catalog
    with catalog.cursor() as cur:
        assert cur.execute("SELECT count(*) FROM api_keys").fetchone()[0] == 0


def test_healthz_does_not_show_the_data_directory(client):
    from rag.server_file import data_dir_id, read_server_file

    body = client.get("/healthz").json()
    data_dir = client.app.state.platform.settings.data_dir
    assert body["status"] == "ok" and str(data_dir.resolve()) not in json.dumps(body) and "data_dir" not in body
    info = read_server_file(data_dir)  # the owner of the data directory can tell its server by it
    assert body["data_dir_id"] == data_dir_id(data_dir, info.secret)
    assert body["data_dir_id"] != data_dir_id(data_dir.parent, info.secret)


def test_any_host_name_only_where_keys_are_enforced(tmp_path):
    from core.errors import ConfigError
    from rag.settings import Settings

    with pytest.raises(ConfigError, match="RAG_ADMIN_KEY"):
        Settings.from_env({"RAG_ALLOWED_HOSTS": "*"})
    settings = Settings(data_dir=tmp_path / "data", allowed_hosts="*", admin_key="admin-key-for-the-test")
    platform = Platform(settings)
    with TestClient(app=create_app(settings, platform=platform)) as c:
        r = c.get("/v1/collections", headers={"Host": "any.example", "Authorization": "Bearer admin-key-for-the-test"})
        assert r.status_code == 200
        r = c.post(
            "/v1/collections", json={"name": "x"}, headers={"Host": "any.example", "Origin": "http://evil.example"}
        )
        assert r.status_code == 403  # writes from another site's page are refused still
    platform.close()
