"""Benchmark runs as background jobs, recorded in the catalog's jobs table.

One run at a time (a benchmark wants the machine to itself); a request while
one runs is refused with a clear error. Results live under
``<data_dir>/benchmarks/<job id>/`` (results.jsonl, summary.json, plot.png).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from indexes import parse_spec
from indexes.errors import InvalidInputError, NotFoundError, RAGError
from rag.store import Store

ALLOWED_DATASETS = ("glove50-10k", "glove50-100k", "scifact-minilm")
MAX_SYNTHETIC = 200_000
MAX_SPECS = 8
BASELINES = ("hnswlib", "faiss")


class BenchmarkBusyError(RAGError):
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
        if m and (int(m.group(1)) > MAX_SYNTHETIC or int(m.group(2) or 384) > 1024):
            raise InvalidInputError(f"synthetic sets are limited to {MAX_SYNTHETIC} vectors of at most 1024 dims here")
        if not self.specs or len(self.specs) > MAX_SPECS:
            raise InvalidInputError(f"give between 1 and {MAX_SPECS} index specs")
        for spec in self.specs:
            parse_spec(spec)
        unknown = set(self.baselines) - set(BASELINES)
        if unknown:
            raise InvalidInputError(f"unknown baselines {sorted(unknown)}; use {', '.join(BASELINES)}")
        return self


class BenchmarkJobs:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.root = store.data_dir / "benchmarks"
        self._lock = threading.Lock()
        self._running: threading.Thread | None = None
        # Runs of a previous process were marked failed when the store was opened (Store.recover).

    def start(self, request: BenchmarkRequest) -> int:
        request.validate()
        with self._lock:
            if self._running is not None and self._running.is_alive():
                raise BenchmarkBusyError("a benchmark is already running; wait for it to finish")
            job = self.store.catalog.start_job(
                "benchmark",
                None,
                {
                    "dataset": request.dataset,
                    "specs": list(request.specs),
                    "baselines": list(request.baselines),
                    "smoke": request.smoke,
                },
            )
            self._running = threading.Thread(
                target=self._run, args=(job, request), daemon=True, name=f"benchmark-{job}"
            )
            self._running.start()
        return job

    def _run(self, job: int, request: BenchmarkRequest) -> None:
        from benchmarks.ann import run

        try:
            summary = run(
                request.dataset,
                list(request.specs),
                list(request.baselines),
                self.folder(job),
                smoke=request.smoke,
                cache_dir=self.store.data_dir / "bench-cache",
            )
            self.store.catalog.finish_job(job, "done", {"summary": summary})
        except Exception as exc:  # the job records the failure; the server keeps running
            self.store.catalog.finish_job(job, "failed", error=f"{type(exc).__name__}: {exc}")

    def folder(self, job: int) -> Path:
        return self.root / str(job)

    def get(self, job: int) -> dict:
        row = self.store.catalog.get_job(job)
        if row["kind"] != "benchmark":
            raise NotFoundError(f"benchmark {job} does not exist")
        results_file = self.folder(job) / "results.jsonl"
        results = []
        if results_file.is_file():
            results = [json.loads(line) for line in results_file.read_text().splitlines() if line.strip()]
        detail = json.loads(row["detail"]) if row["detail"] else {}
        return {
            "id": job,
            "status": row["status"],
            "error": row["error"],
            "request": detail,
            "summary": detail.get("summary"),
            "results": results,
        }

    def plot(self, job: int) -> Path:
        self.get(job)
        path = self.folder(job) / "plot.png"
        if not path.is_file():
            raise NotFoundError(f"benchmark {job} has no plot yet; poll GET /v1/benchmarks/{job} until it is done")
        return path
