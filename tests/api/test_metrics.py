"""GET /metrics: scraped after known traffic and parsed with prometheus_client's own parser.

The fast tests send requests that load no model (health checks, missing collections,
unknown paths) and check the access rules; the slow one uploads, searches and asks
with the real models and checks every family the platform reports.
"""

from __future__ import annotations

import pytest
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from api.metrics import Metrics
from rag.pipeline import Retrieval, Timings
from rag.pipeline.records import Answer, Listeners, Usage
from rag.platform import Platform

BASE_URL = "http://localhost.localhost"
SIZE_FAMILIES = ("rag_collection_documents", "rag_collection_chunks")


def scrape(client, **headers) -> dict[str, list]:
    """Family name -> its samples, from GET /metrics."""
    r = client.get("/metrics", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return {family.name: family.samples for family in text_string_to_metric_families(r.text)}


def value(samples, name: str, **labels) -> float:
    """The value of the one sample ``name`` with these labels (0.0 if there is none)."""
    found = [s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) <= 1, (name, labels, found)
    return found[0] if found else 0.0


@pytest.fixture
def client(settings):
    with TestClient(app=create_app(settings), base_url=BASE_URL) as c:
        yield c


def test_requests_are_counted_per_route_template_method_and_status(client):
    for _ in range(2):
        assert client.get("/healthz").status_code == 200
    for name in ("alpha", "beta", "gamma"):
        assert client.get(f"/v1/collections/{name}").status_code == 404
    assert client.post("/v1/collections/alpha/search", json={"query": "x"}).status_code == 404
    assert client.post("/v1/collections/alpha/search", json={"query": ""}).status_code in (400, 422)
    assert client.get("/no/such/page-12345").status_code == 404
    families = scrape(client)
    requests = families["rag_http_requests"]
    assert value(requests, "rag_http_requests_total", method="GET", route="/healthz", status="200") == 2
    assert value(requests, "rag_http_requests_total", route="/v1/collections/{name}", status="404") == 3
    assert value(requests, "rag_http_requests_total", method="POST", route="/v1/collections/{name}/search",
                 status="404") == 1  # fmt: skip
    assert value(requests, "rag_http_requests_total", route="unmatched", status="404") == 1
    labels = {v for s in requests for v in s.labels.values()}
    assert not labels & {"alpha", "beta", "gamma", "/no/such/page-12345"}, labels  # no names or raw paths
    latency = families["rag_http_request_duration_seconds"]
    assert value(latency, "rag_http_request_duration_seconds_count", route="/healthz", status="200") == 2
    assert value(latency, "rag_http_request_duration_seconds_bucket", route="/healthz", status="200", le="+Inf") == 2
    assert value(latency, "rag_http_request_duration_seconds_sum", route="/healthz", status="200") > 0
    # this scrape counts itself once it is answered
    assert value(scrape(client)["rag_http_requests"], "rag_http_requests_total", route="/metrics") == 1


def test_the_platform_is_read_at_scrape_time(client):
    families = scrape(client)
    jobs = families["rag_ingest_jobs"]
    assert {s.labels["state"] for s in jobs} == {"queued", "parsing", "embedding", "indexing", "done", "failed"}
    assert all(s.value == 0 for s in jobs)
    assert value(families["rag_ingest_chunks_embedded"], "rag_ingest_chunks_embedded_total") == 0
    assert {s.labels["model"] for s in families["rag_model_loaded"]} == {"embedder", "reader", "generator"}
    assert all(s.value in (0.0, 1.0) for s in families["rag_model_loaded"])
    assert all(families[f] == [] for f in SIZE_FAMILIES)  # no collection yet


def test_each_app_has_a_registry_of_its_own(settings, tmp_path):
    other = settings.replace(data_dir=tmp_path / "other")
    with TestClient(app=create_app(settings), base_url=BASE_URL) as one:
        with TestClient(app=create_app(other), base_url=BASE_URL) as two:
            for _ in range(3):
                one.get("/healthz")
            assert value(scrape(one)["rag_http_requests"], "rag_http_requests_total", route="/healthz") == 3
            assert value(scrape(two)["rag_http_requests"], "rag_http_requests_total", route="/healthz") == 0


def test_the_admin_key_or_the_metrics_key_reads_the_metrics_and_the_metrics_key_nothing_else(settings):
    keyed = settings.replace(admin_key="admin-secret", metrics_key="scrape-secret")
    with TestClient(app=create_app(keyed), base_url=BASE_URL) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert "rag_http_requests" in scrape(client, Authorization="Bearer scrape-secret")
        assert "rag_http_requests" in scrape(client, Authorization="Bearer admin-secret")
        assert client.get("/v1/collections", headers={"Authorization": "Bearer scrape-secret"}).status_code == 401
    unset = settings.replace(admin_key="admin-secret")  # no metrics key: only the admin's
    with TestClient(app=create_app(unset), base_url=BASE_URL) as client:
        assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 401


def timed(**seconds: float) -> Timings:
    timings = Timings()
    for stage, value in seconds.items():
        timings.add(stage, value)
    return timings


def test_an_answer_is_observed_with_its_stages_tokens_and_speed():
    metrics = Metrics(lambda: None)
    listeners = Listeners()
    stop = metrics.listen(listeners)
    answer = Answer("It is in Paris [1].", [], [], timed(embed=0.02, dense=0.001, generate=2.0, support=0.1),
                    Usage(300, 40), [])  # fmt: skip
    abstained = Answer("", [], [], timed(embed=0.02), Usage(0, 0), [], abstained=True)
    for heard in listeners.answered:
        heard(answer)
        heard(abstained)
    listeners.searched[0](Retrieval([], timed(embed=0.01, bm25=0.002)))
    stop()
    assert listeners.searched == [] and listeners.answered == []
    families = {f.name: f.samples for f in text_string_to_metric_families(metrics.exposition().decode())}
    assert value(families["rag_generated_tokens"], "rag_generated_tokens_total") == 40
    assert value(families["rag_prompt_tokens"], "rag_prompt_tokens_total") == 300
    speed = families["rag_generation_tokens_per_second"]
    assert value(speed, "rag_generation_tokens_per_second_count") == 1  # the abstention generated nothing
    assert value(speed, "rag_generation_tokens_per_second_sum") == pytest.approx(20.0)
    stages = families["rag_stage_duration_seconds"]
    assert value(stages, "rag_stage_duration_seconds_count", operation="answer", stage="embed") == 2
    assert value(stages, "rag_stage_duration_seconds_sum", operation="answer", stage="generate") == 2.0
    assert value(stages, "rag_stage_duration_seconds_count", operation="search", stage="bm25") == 1
    assert value(stages, "rag_stage_duration_seconds_count", operation="search", stage="generate") == 0


@pytest.mark.slow
def test_known_traffic_is_counted_and_the_platform_reported(settings, generator):
    from tests.api.test_service import TOWER, ZEBRA, files

    settings = settings.replace(max_answer_tokens=24)
    platform = Platform(settings, generator=generator)
    try:
        with TestClient(app=create_app(settings, platform=platform), base_url=BASE_URL) as client:
            up = client.post("/v1/collections/metered/documents?wait=true", files=files(("t.txt", TOWER),
                             ("z.txt", ZEBRA)))  # fmt: skip
            assert up.status_code == 201, up.text
            for query in ("Eiffel tower engineer", "striped coats", "Paris"):
                r = client.post("/v1/collections/metered/search", json={"query": query, "k": 2})
                assert r.status_code == 200, r.text
            asked = client.post("/v1/collections/metered/query", json={"question": "Who built the tower?",
                                "mode": "passages", "abstain": False})  # fmt: skip
            assert asked.status_code == 200, asked.text
            families = scrape(client)
    finally:
        platform.close()
    requests = families["rag_http_requests"]
    route = "/v1/collections/{name}"
    assert value(requests, "rag_http_requests_total", method="POST", route=route + "/documents", status="201") == 1
    assert value(requests, "rag_http_requests_total", method="POST", route=route + "/search", status="200") == 3
    assert value(requests, "rag_http_requests_total", method="POST", route=route + "/query", status="200") == 1
    stages = families["rag_stage_duration_seconds"]
    search_stages = {s.labels["stage"] for s in stages if s.labels.get("operation") == "search"}
    assert {"embed", "dense", "bm25", "fuse"} <= search_stages
    assert value(stages, "rag_stage_duration_seconds_count", operation="search", stage="embed") == 3
    assert value(stages, "rag_stage_duration_seconds_count", operation="answer", stage="generate") == 1
    generated = asked.json()["usage"]["generated_tokens"]
    assert generated > 0
    assert value(families["rag_generated_tokens"], "rag_generated_tokens_total") == generated
    assert value(families["rag_generation_tokens_per_second"], "rag_generation_tokens_per_second_count") == 1
    chunks = sum(d["n_chunks"] for d in up.json()["documents"])
    assert value(families["rag_collection_documents"], "rag_collection_documents", collection="metered") == 2
    assert value(families["rag_collection_chunks"], "rag_collection_chunks", collection="metered") == chunks
    assert value(families["rag_ingest_jobs"], "rag_ingest_jobs", state="done") == 1
    assert value(families["rag_ingest_chunks_embedded"], "rag_ingest_chunks_embedded_total") == chunks
    loaded = {s.labels["model"]: s.value for s in families["rag_model_loaded"]}
    assert loaded["embedder"] == 1 and loaded["generator"] == 1
