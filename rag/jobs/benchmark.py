"""Benchmark runs as background jobs on the job runner (:mod:`rag.jobs.runner`).

One run at a time (a benchmark wants the machine to itself); a request while
one runs is refused with a clear error. Results live under
``<data_dir>/benchmarks/<job id>/`` (results.jsonl, summary.json, plot.png).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConflictError, InvalidInputError, NotFoundError
from indexes import parse_spec
from rag.jobs.job import Job
from rag.jobs.runner import JobRunner
from rag.store import Store

ALLOWED_DATASETS = ("glove50-10k", "glove50-100k", "scifact-minilm")
MAX_SYNTHETIC = 200_000
MAX_SPECS = 8
BASELINES = ("hnswlib", "faiss")


LANE = "benchmark"


class BenchmarkBusyError(ConflictError):
    """A benchmark is already running."""


@dataclass(frozen=True)
class BenchmarkRequest:
    dataset: str
    specs: tuple[str, ...]
    baselines: tuple[str, ...]
    smoke: bool = False

    def validate(self) -> BenchmarkRequest:
        m = re.fullmatch(r"synthetic-(\d+)(?:-d(\d+))?", self.dataset)
        if self.dataset not in ALLOWED_DATASETS and not m:
            raise InvalidInputError(
                f"unknown dataset {self.dataset!r}; use one of {', '.join(ALLOWED_DATASETS)} or synthetic-N"
            )
        if m and not (1 <= int(m.group(1)) <= MAX_SYNTHETIC and 1 <= int(m.group(2) or 384) <= 1024):
            raise InvalidInputError(
                f"synthetic sets hold 1 to {MAX_SYNTHETIC} vectors of 1 to 1024 dims here, e.g. synthetic-10000-d128"
            )
        if not self.specs or len(self.specs) > MAX_SPECS:
            raise InvalidInputError(f"give between 1 and {MAX_SPECS} index specs")
        for spec in self.specs:
            parse_spec(spec)
        unknown = set(self.baselines) - set(BASELINES)
        if unknown:
            raise InvalidInputError(f"unknown baselines {sorted(unknown)}; use {', '.join(BASELINES)}")
        return self


class BenchmarkJobs:
    """ANN benchmark runs on the job runner's "benchmark" lane, one at a time."""

    def __init__(self, runner: JobRunner, store: Store) -> None:
        self.runner = runner
        self.store = store
        self.root = store.data_dir / "benchmarks"
        # Runs of a previous process were marked failed when the store was opened (Store.recover).

    def start(self, request: BenchmarkRequest) -> int:
        request.validate()
        job = Job(
            id=0,
            kind="benchmark",
            status="running",
            created_at="",
            request={
                "dataset": request.dataset,
                "specs": list(request.specs),
                "baselines": list(request.baselines),
                "smoke": request.smoke,
            },
        )
        if self.runner.busy(LANE):
            raise BenchmarkBusyError("a benchmark is already running; wait for it to finish")
        self.runner.create("benchmark", None, job)
        try:
            self.runner.submit(LANE, job, lambda j: self._run(j, request), exclusive=True)
        except ConflictError as exc:  # another start won the race
            self.runner.update(job, status="failed", error=str(exc))
            raise BenchmarkBusyError(str(exc)) from None
        return job.id

    def _run(self, job: Job, request: BenchmarkRequest) -> None:
        from rag.bench.ann import run

        summary = run(
            request.dataset,
            list(request.specs),
            list(request.baselines),
            self.folder(job.id),
            smoke=request.smoke,
            cache_dir=self.store.data_dir / "bench-cache",
        )
        self.runner.update(job, status="done", result=summary)

    def folder(self, job: int) -> Path:
        return self.root / str(job)

    def get(self, job_id: int) -> dict:
        job = self.runner.get(job_id, kind="benchmark")
        results_file = self.folder(job_id) / "results.jsonl"
        results = []
        if results_file.is_file():
            results = [json.loads(line) for line in results_file.read_text().splitlines() if line.strip()]
        return {
            "id": job.id,
            "status": job.status,
            "error": job.error,
            "request": job.request,
            "summary": job.result,
            "results": results,
        }

    def plot(self, job: int) -> Path:
        self.get(job)
        path = self.folder(job) / "plot.png"
        if not path.is_file():
            raise NotFoundError(f"benchmark {job} has no plot yet; poll GET /v1/benchmarks/{job} until it is done")
        return path
