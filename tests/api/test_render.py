"""The render routes through the REST app: POST /v1/render and GET .../documents/{id}/html (no model loads)."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.controllers.render import MAX_RENDER_BYTES
from rag.platform import Platform
from rag.store.records import NewDocument

GUIDE = "# Guide\n\nInstall the tool first.\n\nThen run it:\n\n```sh\nrag serve\n```\n"
HOSTILE = '<script>alert(1)</script>\n\n<img src=x onerror="alert(2)"> [x](javascript:alert(3)) <style>p{}</style>\n'
DOCS: dict[str, int] = {}


def _store(platform: Platform, name: str, text: str) -> int:
    store = platform.store
    collection = store.catalog.get_collection("c")
    sha = hashlib.sha256(text.encode()).hexdigest()
    doc = NewDocument(name, "text/markdown", sha, len(text.encode()), None, None, text)
    return store.add_document(collection, doc, [], np.zeros((0, 384), np.float32)).id  # no chunks: no model


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from rag.settings import Settings

    settings = Settings.from_env().replace(data_dir=tmp_path_factory.mktemp("render") / "data")
    platform = Platform(settings)
    platform.store.create_collection("c", 384, "all-MiniLM-L6-v2", "Flat")
    DOCS.update(guide=_store(platform, "guide.md", GUIDE), hostile=_store(platform, "hostile.md", HOSTILE))
    with TestClient(app=create_app(settings, platform=platform)) as c:
        yield c
    platform.close()


def _error(response, status: int, code: str, words: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and words in error["message"], error


def test_markdown_is_rendered_with_its_ranges_marked(client):
    text = "A *first* answer.\n\nIt cites [1]."
    start = text.index("first")
    response = client.post("/v1/render", json={"markdown": text, "marks": [[start, start + 5]]})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "html": '<p>A <em><mark class="cite" data-mark="0" id="mark-0">first</mark></em> answer.</p>\n'
        "<p>It cites [1].</p>\n"
    }
    assert client.post("/v1/render", json={"markdown": "```\n<b>x</b>\n```"}).json()["html"] == (
        "<pre><code>&lt;b&gt;x&lt;/b&gt;\n</code></pre>\n"
    )


def test_a_text_over_the_limit_is_refused_with_it(client):
    response = client.post("/v1/render", json={"markdown": "é" * (MAX_RENDER_BYTES // 2 + 1)})  # 2 bytes each
    _error(response, 413, "payload_too_large", f"send at most {MAX_RENDER_BYTES:,}")
    assert client.post("/v1/render", json={"markdown": "a" * MAX_RENDER_BYTES}).status_code == 200


@pytest.mark.parametrize("marks", [[[5, 2]], [[0, 99]], [[-1, 2]]])
def test_bad_ranges_are_refused_with_the_bounds(client, marks):
    response = client.post("/v1/render", json={"markdown": "ten chars!", "marks": marks})
    _error(response, 422, "invalid_input", "0 <= start <= end <= 10")


def test_a_document_is_rendered_with_its_range_marked(client):
    start = GUIDE.index("Install")
    url = f"/v1/collections/c/documents/{DOCS['guide']}/html?start={start}&end={GUIDE.index('rag serve') + 3}"
    body = client.get(url).json()
    assert body["marked"] is True
    assert (
        '<h1>Guide</h1>\n<p><mark class="cite" data-mark="0" id="mark-0">Install the tool first.</mark>' in body["html"]
    )
    assert '<pre><code class="language-sh"><mark class="cite" data-mark="0">rag</mark> serve' in body["html"]
    plain = client.get(f"/v1/collections/c/documents/{DOCS['guide']}/html").json()
    assert plain["marked"] is False and "<mark" not in plain["html"] and "<h1>Guide</h1>" in plain["html"]


def test_a_hostile_document_renders_as_harmless_text(client):
    html = client.get(f"/v1/collections/c/documents/{DOCS['hostile']}/html").json()["html"]
    tags = re.findall(r"<(/?[a-z0-9]+)([^>]*)>", html)
    assert {name.strip("/") for name, _ in tags} == {"p"} and not any(attrs for _, attrs in tags), html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "javascript:alert(3)" in html  # shown as text


def test_unknown_documents_and_collections_are_404_and_half_a_range_422(client):
    _error(client.get("/v1/collections/c/documents/999999/html"), 404, "not_found", "document 999999")
    _error(client.get(f"/v1/collections/nope/documents/{DOCS['guide']}/html"), 404, "not_found", "nope")
    _error(client.get(f"/v1/collections/c/documents/{DOCS['guide']}/html?start=3"), 422, "invalid_input", "both")
    beyond = client.get(f"/v1/collections/c/documents/{DOCS['guide']}/html?start=0&end={len(GUIDE) + 1}")
    _error(beyond, 422, "invalid_input", f"<= {len(GUIDE)}")
