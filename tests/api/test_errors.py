"""Every error answers one JSON shape, {"error": {"code", "message", "detail"}}; /schema is an offline page."""

from __future__ import annotations

import logging
import re

import pytest
from litestar import get
from litestar.testing import TestClient

from api.app import create_app
from api.errors import BadRequestError, ConflictError, code_for, status_for
from api.openapi import ERRORS, error_responses
from core.errors import ConfigError, InvalidInputError, MissingDependencyError, NotFoundError
from indexes.errors import DimensionMismatchError, IndexFormatError
from ingest.errors import DocumentParseError, PayloadTooLargeError, UnsupportedMediaTypeError
from rag.jobs import BenchmarkBusyError
from rag.platform import Platform

SECRET = "s3cret-connection-string"


@get("/test/boom", sync_to_thread=False)
def boom() -> None:
    raise RuntimeError(SECRET)


class JobRunningError(ConflictError):
    def __init__(self, message: str, job_id: int) -> None:
        super().__init__(message)
        self.detail = {"job_id": job_id}


@get("/test/conflict", sync_to_thread=False, responses=error_responses(409, 500))
def conflict() -> None:
    raise JobRunningError("document 3 is being replaced; retry when job 7 is done", job_id=7)


@get("/test/corrupt", sync_to_thread=False)
def corrupt() -> None:
    raise IndexFormatError("the index of collection 'docs' is corrupt; rebuild it")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from rag.settings import Settings

    platform = Platform(Settings.from_env().replace(data_dir=tmp_path_factory.mktemp("errors") / "data"))
    app = create_app(platform=platform)
    for handler in (boom, conflict, corrupt):
        app.register(handler)
    with TestClient(app=app) as c:
        yield c
    platform.close()


def _error(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "detail"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def test_unknown_collection_is_not_found(client):
    error = _error(client.get("/v1/collections/nope/documents"), 404, "not_found")
    assert "nope" in error["message"] and error["detail"] is None


def test_a_bad_body_field_is_a_validation_error_naming_the_field(client):
    error = _error(client.post("/v1/collections/x/search", json={"query": 5}), 400, "validation_error")
    assert isinstance(error["detail"], list) and error["detail"]
    assert error["detail"][0]["key"] == "query"
    assert "query" in error["message"]


def test_unknown_route_and_wrong_method(client):
    error = _error(client.get("/v1/nothing-here"), 404, "not_found")
    assert "/v1/nothing-here" in error["message"]
    r = client.delete("/healthz")
    error = _error(r, 405, "method_not_allowed")
    assert "GET" in r.headers["allow"] and "GET" in error["detail"]["allowed_methods"]


def test_an_unexpected_exception_is_a_500_that_leaks_nothing(client, caplog):
    with caplog.at_level(logging.ERROR, logger="api.errors"):
        r = client.get("/test/boom")
    error = _error(r, 500, "internal_error")
    assert error["message"] == "an internal error occurred; see the server log"
    assert error["detail"] is None and SECRET not in r.text and "RuntimeError" not in r.text
    assert SECRET in caplog.text  # the traceback is in the server log


def test_conflict_carries_its_detail_and_a_platform_500_keeps_its_message(client):
    error = _error(client.get("/test/conflict"), 409, "conflict")
    assert error["detail"] == {"job_id": 7} and "job 7" in error["message"]
    error = _error(client.get("/test/corrupt"), 500, "internal_error")
    assert "rebuild it" in error["message"]


@pytest.mark.parametrize(
    "exc,status,code",
    [
        (BadRequestError("x"), 400, "bad_request"),
        (NotFoundError("x"), 404, "not_found"),
        (ConflictError("x"), 409, "conflict"),
        (BenchmarkBusyError("x"), 409, "busy"),
        (UnsupportedMediaTypeError("x"), 415, "unsupported_media_type"),
        (PayloadTooLargeError("x"), 413, "payload_too_large"),
        (DocumentParseError("x"), 422, "unparsable_document"),
        (DimensionMismatchError("x"), 422, "dimension_mismatch"),
        (InvalidInputError("x"), 422, "invalid_input"),
        (ConfigError("x"), 400, "invalid_config"),
        (MissingDependencyError("x"), 503, "missing_dependency"),
        (IndexFormatError("x"), 500, "internal_error"),
    ],
)
def test_each_platform_error_has_a_status_and_a_code(exc, status, code):
    assert (status_for(exc), code_for(exc)) == (status, code)


def test_error_responses_document_the_error_shape(client):
    assert set(error_responses(404, 422, 404)) == {404, 422}
    assert all(spec.description == ERRORS[s] for s, spec in error_responses(400, 500).items())
    with pytest.raises(ValueError, match="418"):
        error_responses(418)
    schema = client.get("/schema/openapi.json").json()
    responses = schema["paths"]["/test/conflict"]["get"]["responses"]
    assert responses["409"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
    body = schema["components"]["schemas"]["ErrorBody"]
    assert set(body["properties"]) == {"code", "message", "detail"}


def test_schema_serves_a_self_contained_docs_page(client):
    r = client.get("/schema")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert "/v1/collections/{name}/query" in page and "/v1/collections/{name}/search" in page
    assert "<script" not in page.lower() and "cdn" not in page.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page, re.IGNORECASE)
    assert 'href="/schema/openapi.json"' in page
    assert client.get("/schema/docs").text == page
    for ui in ("swagger", "redoc", "rapidoc", "elements"):
        assert client.get(f"/schema/{ui}").status_code == 404


def test_openapi_documents_are_still_served(client):
    schema = client.get("/schema/openapi.json").json()
    assert schema["openapi"].startswith("3.") and schema["info"]["title"] == "Local RAG"
    assert "/v1/collections/{name}/query" in schema["paths"]
    r = client.get("/schema/openapi.yaml")
    assert r.status_code == 200 and "/v1/collections/{name}/query" in r.text


def test_the_docs_page_escapes_what_the_document_says():
    from api.openapi import render_page

    evil = '<script src="https://cdn.example/x.js"></script>'
    spec = {
        "info": {"title": evil, "version": "1"},
        "paths": {
            "/a/{x}": {"get": {"summary": evil, "description": evil, "responses": {"200": {"description": evil}}}}
        },
        "components": {"schemas": {"S": {"description": evil, "properties": {"f": {"enum": [evil]}}}}},
    }
    page = render_page(spec, "/schema/openapi.json")
    assert "<script" not in page and "&lt;script" in page


OPENAI_PATHS = ("/v1/chat/completions", "/v1/models", "/v1/embeddings")


def test_every_route_is_documented_with_its_answers_and_errors(client):
    schema = client.get("/schema/openapi.json").json()
    app_paths = {route.path.replace(":int", "").replace(":str", "") for route in client.app.routes}
    operations = [
        (p, m, op) for p, ops in schema["paths"].items() for m, op in ops.items() if not p.startswith("/test/")
    ]  # /test/...: routes the tests of this module add
    assert {p for p, _, _ in operations} >= {p for p in app_paths if p.startswith("/v1/") or p == "/healthz"}
    for path, method, op in operations:
        where = f"{method.upper()} {path}"
        assert op.get("operationId") and op.get("summary"), where
        answers = [s for s in op["responses"] if s.startswith("2")]
        assert answers and all(op["responses"][s].get("content") or s == "204" for s in answers), where
        if path == "/healthz":
            continue
        errors = {s: r for s, r in op["responses"].items() if s[0] in "45"}
        assert {"400", "500"} <= set(errors), where
        for status, response in errors.items():
            ref = response["content"]["application/json"]["schema"]["$ref"]
            # the OpenAI-compatible routes answer errors in OpenAI's shape, which its clients read
            shape = "/OpenAIErrorResponse" if path in OPENAI_PATHS else "/ErrorResponse"
            assert ref.endswith(shape), (where, status)
        body = op.get("requestBody")
        if method in ("post", "put") and path not in ("/v1/collections/{name}/compact",):
            assert body and body["content"], where
    query = schema["paths"]["/v1/collections/{name}/query"]["post"]["responses"]["200"]["content"]
    assert set(query) == {"application/json", "text/event-stream"}
    events = schema["paths"]["/v1/jobs/{job_id}/events"]["get"]["responses"]["200"]["content"]
    assert set(events) == {"text/event-stream"}
    upload = schema["paths"]["/v1/collections/{name}/documents"]["post"]["responses"]
    assert {"201", "202", "413", "415"} <= set(upload)
