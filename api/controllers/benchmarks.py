"""ANN benchmark runs as background jobs: start, poll, fetch the plot."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, get, post
from litestar.response import File

from api.openapi import error_responses
from rag.jobs import BenchmarkJobs, BenchmarkRequest


class BenchmarkIn(msgspec.Struct, forbid_unknown_fields=True):
    dataset: str = "glove50-10k"
    specs: list[str] = msgspec.field(default_factory=lambda: ["HNSW32"])
    baselines: list[str] = msgspec.field(default_factory=lambda: ["hnswlib", "faiss"])
    smoke: bool = True


class BenchmarkStarted(msgspec.Struct):
    id: int
    status: str
    status_url: str
    plot_url: str


class BenchmarkStatus(msgspec.Struct):
    id: int
    status: str  # running | done | failed
    error: str | None
    request: dict[str, Any]  # dataset, specs, baselines, smoke, as started
    summary: dict[str, Any] | None  # once done: what the run measured, in short
    results: list[dict[str, Any]]  # one row per index and search setting (recall@10, queries/s ...), so far


class BenchmarkController(Controller):
    path = "/v1/benchmarks"
    tags = ["benchmarks"]

    @post(
        operation_id="startBenchmark",
        responses=error_responses(400, 401, 403, 409, 413, 415, 422, 500),
        status_code=202,
        sync_to_thread=True,
        summary="Start an ANN benchmark run in the background",
    )
    def start(self, data: BenchmarkIn, benchmarks: BenchmarkJobs) -> BenchmarkStarted:
        job = benchmarks.start(BenchmarkRequest(data.dataset, tuple(data.specs), tuple(data.baselines), data.smoke))
        return BenchmarkStarted(job, "running", f"/v1/benchmarks/{job}", f"/v1/benchmarks/{job}/plot.png")

    @get(
        "/{job_id:int}",
        operation_id="getBenchmark",
        responses=error_responses(400, 401, 403, 404, 500),
        sync_to_thread=True,
        summary="Status and results of a run",
    )
    def status(self, job_id: int, benchmarks: BenchmarkJobs) -> BenchmarkStatus:
        return msgspec.convert(benchmarks.get(job_id), BenchmarkStatus)

    @get(
        "/{job_id:int}/plot.png",
        operation_id="getBenchmarkPlot",
        responses=error_responses(400, 401, 403, 404, 500),
        sync_to_thread=True,
        summary="Recall@10 against queries/s, one line per index",
        media_type="image/png",
    )
    def plot(self, job_id: int, benchmarks: BenchmarkJobs) -> File:
        return File(path=benchmarks.plot(job_id), media_type="image/png", content_disposition_type="inline")
