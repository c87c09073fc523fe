"""REST: a paragraph-long query is searched; one past the hard limit is a 413 that names the limit."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient

from api.app import create_app
from rag.pipeline.request import MAX_QUERY_CHARS
from rag.platform import Platform
from tests.conftest import FIXTURES

pytestmark = pytest.mark.slow  # the embedder reads the stored text and the query


@pytest.fixture(scope="module")
def client(tmp_path_factory, embedder):
    from rag.settings import Settings

    platform = Platform(Settings.from_env().replace(data_dir=tmp_path_factory.mktemp("long") / "data"))
    with TestClient(app=create_app(platform=platform)) as c:
        md = (FIXTURES / "api" / "guide.md").read_bytes()
        txt = (FIXTURES / "api" / "notes.txt").read_bytes()
        files = [("files", ("guide.md", md, "text/markdown")), ("files", ("notes.txt", txt, "text/plain"))]
        assert c.post("/v1/collections/docs/documents?wait=true", files=files).status_code == 201
        yield c
    platform.close()


def test_a_pasted_paragraph_is_searched_with_every_fusion(client):
    guide = (FIXTURES / "api" / "guide.md").read_text(encoding="utf-8")
    paragraph = (guide + " ") * (4671 // len(guide) + 1)
    paragraph = paragraph[:4671]  # the length the issue reports refused ("the limit is 4000")
    for fusion in ("convex", "bm25", "dense"):
        r = client.post("/v1/collections/docs/search", json={"query": paragraph, "k": 3, "fusion": fusion})
        assert r.status_code == 200, r.text
        assert r.json()["results"][0]["filename"] == "guide.md"  # it finds the text it was pasted from


@pytest.mark.parametrize("route,field", [("search", "query"), ("query", "question")])
def test_a_query_past_the_hard_limit_is_a_413_naming_it(client, route, field):
    r = client.post(f"/v1/collections/docs/{route}", json={field: "x" * (MAX_QUERY_CHARS + 1)})
    assert r.status_code == 413, r.text
    error = r.json()["error"]
    assert error["code"] == "payload_too_large" and f"the limit is {MAX_QUERY_CHARS:,}" in error["message"]


def test_a_pasted_paragraph_asked_as_a_question_is_answered(client):
    """The prompt holds the question's beginning: a pasted page went whole into the prompt (5,494 tokens for this
    one, past the answer's budget; a longer one past the model's context)."""
    guide = (FIXTURES / "api" / "guide.md").read_text(encoding="utf-8")
    question = "How do I install the tool? " + (guide + " ") * 40
    for mode in ("passages", "extract"):
        ask = {"question": question[:90_000], "k": 3, "abstain": False, "mode": mode}
        r = client.post("/v1/collections/docs/query", json=ask)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["answer"] and not body["abstained"] and 0 < body["usage"]["prompt_tokens"] < 2048
