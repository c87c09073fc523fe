"""POST /v1/benchmarks runs a bounded ANN benchmark in the background; GET polls it."""

from __future__ import annotations

import time

import pytest
from litestar.testing import TestClient

from api.app import create_app
from rag.platform import Platform
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from rag.settings import Settings

    shared_path("glove50-angular")
    platform = Platform(Settings.from_env().replace(data_dir=tmp_path_factory.mktemp("bench") / "data"))
    with TestClient(app=create_app(platform=platform)) as c:
        yield c
    platform.close()


def test_benchmark_job_runs_and_serves_results_and_plot(client):
    r = client.post("/v1/benchmarks", json={"dataset": "glove50-10k", "specs": ["Flat"], "baselines": ["hnswlib"]})
    assert r.status_code == 202, r.text
    job = r.json()["id"]
    busy = client.post("/v1/benchmarks", json={"dataset": "glove50-10k", "specs": ["Flat"], "baselines": []})
    assert busy.status_code in (202, 409)
    deadline = time.time() + 240
    while time.time() < deadline:
        body = client.get(f"/v1/benchmarks/{job}").json()
        if body["status"] != "running":
            break
        time.sleep(0.5)
    assert body["status"] == "done", body
    flat = [row for row in body["results"] if row["index"] == "Flat"]
    assert flat and all(row["recall@10"] == 1.0 for row in flat)
    assert {row["index"] for row in body["results"]} == {"Flat", "hnswlib-M32"}
    png = client.get(f"/v1/benchmarks/{job}/plot.png")
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "payload,status",
    [
        ({"dataset": "sift1b", "specs": ["Flat"]}, 422),
        ({"dataset": "synthetic-5000000", "specs": ["Flat"]}, 422),
        ({"dataset": "synthetic-0", "specs": ["Flat"]}, 422),
        ({"dataset": "synthetic-100-d0", "specs": ["Flat"]}, 422),
        ({"dataset": "glove50-10k", "specs": ["Nope9"]}, 400),
        ({"dataset": "glove50-10k", "specs": ["Flat"], "baselines": ["annoy"]}, 422),
        ({"dataset": "glove50-10k", "specs": []}, 422),
    ],
)
def test_bad_benchmark_requests(client, payload, status):
    r = client.post("/v1/benchmarks", json=payload)
    assert r.status_code == status, r.text
    assert r.json()["error"]["message"]


def test_unknown_benchmark_is_404(client):
    assert client.get("/v1/benchmarks/999").status_code == 404
    assert client.get("/v1/benchmarks/999/plot.png").status_code == 404
