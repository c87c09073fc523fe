"""Limits at the door: ids beyond 64 bits, JSON bodies over 1 MiB, and a refused body that common clients read."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
import uuid

import pytest
from litestar.testing import TestClient

import api.limits
from api.app import create_app
from rag.platform import Platform
from tests.live import LiveServer

ADMIN = "admin-key-of-the-limits-tests"
MiB = 2**20
ID_ROUTES = [
    ("GET", "/v1/jobs/{id}"),
    ("GET", "/v1/jobs/{id}/events"),
    ("GET", "/v1/collections/c/documents/{id}"),
    ("DELETE", "/v1/collections/c/documents/{id}"),
    ("PUT", "/v1/collections/c/documents/{id}"),
    ("DELETE", "/v1/collections/c/keys/{id}"),
    ("GET", "/v1/benchmarks/{id}"),
    ("GET", "/v1/benchmarks/{id}/plot.png"),
]
A_FILE = {"files": ("a.txt", b"A small file.", "text/plain")}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from rag.settings import Settings

    settings = Settings.from_env().replace(data_dir=tmp_path_factory.mktemp("limits") / "data", admin_key=ADMIN)
    platform = Platform(settings)
    platform.store.create_collection("c", 384, "all-MiniLM-L6-v2", "Flat")  # no model loads in these tests
    with TestClient(app=create_app(settings, platform=platform)) as c:
        c.headers["Authorization"] = f"Bearer {ADMIN}"
        yield c
    platform.close()


@pytest.mark.parametrize("value", [2**200, -(2**200), 2**63], ids=["2**200", "-2**200", "2**63"])
@pytest.mark.parametrize(("method", "route"), ID_ROUTES, ids=[f"{m} {r}" for m, r in ID_ROUTES])
def test_an_id_beyond_64_bits_is_a_404_not_a_500(client, method, route, value):
    # the PUT sends a real file: without the guard it would reach the catalog's lookup of the document
    r = client.request(method, route.format(id=value), files=A_FILE if method == "PUT" else None)
    assert r.status_code == 404, r.text
    error = r.json()["error"]
    assert error["code"] == "not_found" and str(value) in error["message"], error


def test_a_json_body_over_1_mib_is_a_413_that_names_the_limit(client):
    r = client.post("/v1/collections/c/search", json={"query": "sky " * (MiB // 2)})
    assert r.status_code == 413, r.text[:300]
    error = r.json()["error"]
    assert error["code"] == "payload_too_large" and error["detail"] == {"limit_bytes": MiB}
    assert "larger than the 1 MiB that POST /v1/collections/c/search accepts" in error["message"]
    assert "upload files as multipart/form-data" in error["message"]
    # a body within the limit is read as before
    assert client.post("/v1/collections/c/search", json={"query": "sky", "fusion": "bm25"}).status_code == 200


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A real server (uploads of at most 8 MB, so 33 MB a request) for what the test client cannot show."""
    from rag.settings import Settings

    settings = Settings.from_env().replace(data_dir=tmp_path_factory.mktemp("live") / "data", max_upload_mb=8.0)
    platform = Platform(settings)
    with LiveServer(create_app(settings, platform=platform)) as server:
        yield server
    platform.close()


def test_a_content_length_over_the_limit_is_refused_before_the_body_is_sent(live):
    """A client that waits for "100 Continue" hears the 413 instead: the server asks for none of the body."""
    with socket.create_connection(("127.0.0.1", live.port), timeout=10) as s:
        s.sendall(
            b"POST /v1/collections/c/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % (30 * MiB)
        )
        status_line = s.makefile("rb").readline()
    assert status_line.startswith(b"HTTP/1.1 413"), status_line


def _multipart(filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{filename}"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _refusal(url: str, body: bytes, content_type: str) -> tuple[int, dict]:
    """What urllib (which sends the whole body before it reads) hears for a body the server refuses."""
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=60)
    return refused.value.code, json.loads(refused.value.read())


@pytest.mark.parametrize(
    ("size", "words"),
    # more than the loopback's socket buffers hold (a few MB), else the client sends it all before the reset
    [(40 * MiB, "larger than the 33 MB this server accepts"), (30 * MiB, "the limit is 8 MB")],
    ids=["body-over-the-request-limit", "file-over-the-file-limit"],
)
def test_a_python_client_reads_the_413_of_an_upload_over_the_limit(live, size, words):
    body, content_type = _multipart("big.txt", b"x" * size)
    status, body = _refusal(f"{live.url}/v1/collections/big/documents", body, content_type)
    assert status == 413 and body["error"]["code"] == "payload_too_large"
    assert words in body["error"]["message"], body


def test_a_python_client_reads_the_413_of_a_json_body_over_the_limit(live):
    body = json.dumps({"query": "sky " * (2 * MiB)}).encode()
    status, body = _refusal(f"{live.url}/v1/collections/c/search", body, "application/json")
    assert status == 413 and "1 MiB" in body["error"]["message"], body


def test_a_body_past_the_discard_bound_is_not_read_to_its_end(live, monkeypatch):
    """Reading a refused body costs bandwidth: past DISCARD_LIMIT the server closes instead (the client sees
    its connection cut), and keeps serving."""
    monkeypatch.setattr(api.limits, "DISCARD_LIMIT", 4 * MiB)
    body, content_type = _multipart("big.txt", b"x" * (40 * MiB))
    request = urllib.request.Request(
        f"{live.url}/v1/collections/big/documents", data=body, method="POST", headers={"Content-Type": content_type}
    )
    with pytest.raises((urllib.error.URLError, ConnectionError)) as cut:
        urllib.request.urlopen(request, timeout=60)
    assert not isinstance(cut.value, urllib.error.HTTPError), "the server read the whole body"
    assert urllib.request.urlopen(f"{live.url}/healthz", timeout=10).status == 200
