"""The OpenAI-compatible routes' errors and access, with httpx (Litestar's TestClient): nothing here loads a model.

Collections are made through the store with made-up vectors; the chat and embedding
requests here all fail before retrieval, so no embedder or generator loads.
"""

from __future__ import annotations

import pytest
from litestar.testing import TestClient

from api.app import create_app
from rag.platform import Platform

ADMIN = "admin-secret-for-openai-tests"
QUESTION = [{"role": "user", "content": "How much disk space does the installer need?"}]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from rag.settings import Settings

    settings = Settings.from_env().replace(data_dir=tmp_path_factory.mktemp("oai") / "data", admin_key=ADMIN)
    platform = Platform(settings)
    for name in ("alpha", "beta"):
        platform.store.create_collection(name, 4, "made-up-model", index_spec="Flat")
    with TestClient(app=create_app(settings, platform=platform)) as c:
        made = c.post("/v1/collections/alpha/keys", json={"scope": "read"}, headers=bearer(ADMIN))
        c.alpha_key = made.json()["key"]
        yield c
    platform.close()


def assert_openai_error(response, status: int, kind: str, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"], error
    assert error["type"] == kind, error
    if code is not None:
        assert error["code"] == code, error
    return error


def test_models_lists_the_collections_a_key_may_read(client):
    everything = client.get("/v1/models", headers=bearer(ADMIN)).json()
    assert everything["object"] == "list"
    collections = [m for m in everything["data"] if m["id"].startswith("rag:")]
    assert [m["id"] for m in collections] == ["rag:alpha", "rag:beta"]
    assert all(m["object"] == "model" and m["owned_by"] == "localrag" and m["created"] > 0 for m in collections)
    own = client.get("/v1/models", headers=bearer(client.alpha_key)).json()
    assert [m["id"] for m in own["data"] if m["id"].startswith("rag:")] == ["rag:alpha"]


def test_models_lists_the_generator_models_as_rag_models_does(client):
    listed = client.get("/v1/models", headers=bearer(ADMIN)).json()["data"]
    (shipped,) = [m for m in listed if m["id"].startswith("gguf:")]  # the test data dir has no models folder
    assert shipped["id"] == "gguf:SmolLM2-135M-Instruct.Q4_1" and shipped["owned_by"] == "local"
    info = shipped["gguf"]
    assert info["architecture"] == "llama" and info["active"] and info["problem"] is None
    assert info["context_length"] == 8192 and 130e6 < info["parameters"] < 140e6 and info["file_bytes"] > 90e6
    r = client.post("/v1/chat/completions", json={"model": shipped["id"], "messages": QUESTION}, headers=bearer(ADMIN))
    error = assert_openai_error(r, 404, "invalid_request_error", "model_not_found")
    assert "answers only through a collection" in error["message"]


def test_no_key_or_a_wrong_key_is_a_401_in_openais_shape(client):
    for headers in ({}, bearer("rag_not-a-key")):
        for method, path, body in (("GET", "/v1/models", None), ("POST", "/v1/chat/completions", {})):
            r = client.request(method, path, json=body, headers=headers)
            assert_openai_error(r, 401, "authentication_error", "invalid_api_key")
            assert r.headers["www-authenticate"] == "Bearer"


def test_an_unknown_model_and_another_collections_model_are_404(client):
    chat = {"messages": QUESTION}
    for model, key in (("rag:nope", ADMIN), ("alpha", ADMIN), ("rag:beta", client.alpha_key)):
        r = client.post("/v1/chat/completions", json={"model": model, **chat}, headers=bearer(key))
        error = assert_openai_error(r, 404, "invalid_request_error", "model_not_found")
        assert error["param"] == "model" and model in error["message"] and "GET /v1/models" in error["message"]
        r = client.post("/v1/embeddings", json={"model": model, "input": "x"}, headers=bearer(key))
        assert_openai_error(r, 404, "invalid_request_error", "model_not_found")


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"model": "rag:alpha"}, 400, "messages"),
        ({"model": "rag:alpha", "messages": "hi"}, 400, "messages"),
        ({"model": "rag:alpha", "messages": QUESTION, "temperature": 3}, 400, "temperature"),
        ({"model": "rag:alpha", "messages": QUESTION, "max_tokens": 0}, 400, "max_tokens"),
        ({"model": "rag:alpha", "messages": []}, 422, "messages is empty"),
        ({"model": "rag:alpha", "messages": [*QUESTION, {"role": "assistant", "content": "x"}]}, 422, "last message"),
        ({"model": "rag:alpha", "messages": [{"role": "wizard", "content": "x"}]}, 422, "unknown message role"),
        ({"model": "rag:alpha", "messages": [{"role": "user", "content": " "}]}, 422, "empty"),
        ({"model": "rag:alpha", "messages": QUESTION, "stop": ["a", "b", "c", "d", "e"]}, 422, "stop"),
        ({"model": "rag:alpha", "messages": QUESTION, "n": 2}, 422, "n must be 1"),
        ({"model": "rag:alpha", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, 422, "image_url"),
    ],
)
def test_a_bad_chat_body_is_a_4xx_in_openais_shape(client, body, status, says):
    r = client.post("/v1/chat/completions", json=body, headers=bearer(ADMIN))
    error = assert_openai_error(r, status, "invalid_request_error")
    assert says in error["message"], error


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"model": "rag:alpha", "input": [1, 2, 3]}, 400, "input"),
        ({"model": "rag:alpha", "input": []}, 422, "1 to 2048"),
        ({"model": "rag:alpha", "input": ["ok", ""]}, 422, "input 1 is empty"),
        ({"model": "rag:alpha", "input": "x", "encoding_format": "int8"}, 422, "encoding_format"),
    ],
)
def test_a_bad_embedding_body_is_a_4xx_in_openais_shape(client, body, status, says):
    r = client.post("/v1/embeddings", json=body, headers=bearer(ADMIN))
    error = assert_openai_error(r, status, "invalid_request_error")
    assert says in error["message"], error


def test_unknown_fields_are_ignored_as_openai_does(client):
    body = {"model": "rag:nope", "messages": QUESTION, "user": "u1", "seed": 3, "stream_options": {"x": 1}}
    r = client.post("/v1/chat/completions", json=body, headers=bearer(ADMIN))
    assert_openai_error(r, 404, "invalid_request_error", "model_not_found")  # read past the unknown fields


def test_a_body_that_is_not_json_is_refused_in_openais_shape(client):
    r = client.post("/v1/chat/completions", content=b"{", headers={**bearer(ADMIN), "content-type": "application/json"})
    assert_openai_error(r, 400, "invalid_request_error")
    r = client.post("/v1/embeddings", content=b"x", headers={**bearer(ADMIN), "content-type": "text/plain"})
    assert_openai_error(r, 415, "invalid_request_error", "unsupported_media_type")


def test_the_rest_of_the_api_keeps_its_own_error_shape(client):
    r = client.get("/v1/collections/nope", headers=bearer(ADMIN))
    assert r.status_code == 404 and set(r.json()["error"]) == {"code", "message", "detail"}
    r = client.get("/v1/collections/alpha")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


def test_the_routes_are_documented_with_openais_error_shape(client):
    document = client.get("/schema/openapi.json").json()
    chat = document["paths"]["/v1/chat/completions"]["post"]
    assert set(chat["responses"]["200"]["content"]) == {"application/json", "text/event-stream"}
    for path, method in (("/v1/chat/completions", "post"), ("/v1/models", "get"), ("/v1/embeddings", "post")):
        responses = document["paths"][path][method]["responses"]
        errors = [r for status, r in responses.items() if status[0] in "45"]
        assert errors and all(
            r["content"]["application/json"]["schema"]["$ref"].endswith("/OpenAIErrorResponse") for r in errors
        ), path
