"""ANN benchmark runs as background jobs: start, poll, fetch the plot."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, get, post
from litestar.datastructures import State
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
    def start(self, data: BenchmarkIn, state: State) -> BenchmarkStarted:
        jobs: BenchmarkJobs = state.benchmarks
        job = jobs.start(BenchmarkRequest(data.dataset, tuple(data.specs), tuple(data.baselines), data.smoke))
        return BenchmarkStarted(job, "running", f"/v1/benchmarks/{job}", f"/v1/benchmarks/{job}/plot.png")

    @get(
        "/{job_id:int}",
        operation_id="getBenchmark",
        responses=error_responses(400, 401, 403, 404, 500),
        sync_to_thread=True,
        summary="Status and results of a run",
    )
    def status(self, job_id: int, state: State) -> dict[str, Any]:
        return state.benchmarks.get(job_id)

    @get(
        "/{job_id:int}/plot.png",
        operation_id="getBenchmarkPlot",
        responses=error_responses(400, 401, 403, 404, 500),
        sync_to_thread=True,
        summary="Recall@10 against queries/s, one line per index",
        media_type="image/png",
    )
    def plot(self, job_id: int, state: State) -> File:
        return File(path=state.benchmarks.plot(job_id), media_type="image/png", content_disposition_type="inline")
