"""What a load run records and reports: one record per request, thread-safe; per-kind latency percentiles,
throughput within the window, the ingest's documents per second, and the markdown table ``rag bench load``
prints (:mod:`rag.bench.load` drives the traffic)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import numpy as np

from rag.bench.server_process import cpu_model

QUERY_KINDS = ("search", "ask")
INGEST_KINDS = ("upload", "poll", "job")  # job: an ingest job from its upload to its end


@dataclass
class Record:
    kind: str  # search | ask | upload | poll | job (an ingest job, upload to its end) | seed | warmup
    status: int  # HTTP status; 0 for an exception
    seconds: float
    error: str | None = None
    end: float = 0.0  # time.monotonic() when it ended


class Recorder:
    """Thread-safe list of request records."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local = threading.local()
        self.records: list[Record] = []

    @property
    def last_error(self) -> str | None:
        """The error of the last request that this thread timed."""
        return getattr(self._local, "error", None)

    def add(self, record: Record) -> None:
        record.end = record.end or time.monotonic()
        with self._lock:
            self.records.append(record)

    def timed(
        self, kind: str, call: Callable[[], httpx.Response], ok: Callable[[httpx.Response], str | None] | None = None
    ) -> httpx.Response | None:
        """Run ``call``; record its kind, status and seconds. Returns the response, or None on an error."""
        t0 = time.perf_counter()
        try:
            response = call()
        except Exception as exc:  # a timeout or a dropped connection is an error like a 5xx
            self._local.error = f"{type(exc).__name__}: {exc}"
            self.add(Record(kind, 0, time.perf_counter() - t0, self._local.error))
            return None
        seconds = time.perf_counter() - t0
        error = None if response.is_success else f"HTTP {response.status_code}: {response.text[:300]}"
        if error is None and ok is not None:
            error = ok(response)
        self._local.error = error
        self.add(Record(kind, response.status_code, seconds, error))
        return None if error else response


@dataclass
class IngestStats:
    jobs: int = 0
    documents: int = 0
    errors: int = 0
    seconds: float = 0.0


def machine() -> str:
    return f"{cpu_model()}, {os.cpu_count()} cores"


def kind_stats(records: list[Record]) -> dict:
    ms = np.asarray([r.seconds for r in records], dtype=np.float64) * 1000.0
    out = {"count": len(records), "errors": sum(r.error is not None for r in records)}
    for name, q in (("p50_ms", 50), ("p90_ms", 90), ("p99_ms", 99)):
        out[name] = round(float(np.percentile(ms, q)), 1) if ms.size else 0.0
    out["max_ms"] = round(float(ms.max()), 1) if ms.size else 0.0
    return out


def summarize(
    records: list[Record], seconds: float, start: float, elapsed: float, concurrency: int, ingest: IngestStats
) -> dict:
    """The summary; ``start``: time.monotonic() when the load began, ``elapsed``: seconds until the last query ended."""
    queries = [r for r in records if r.kind in QUERY_KINDS]
    query_errors = sum(r.error is not None for r in (*queries, *(r for r in records if r.kind == "warmup")))
    in_window = sum(r.end <= start + seconds for r in queries)
    first_errors = [f"{r.kind}: {r.error}" for r in records if r.kind != "seed" and r.error is not None][:10]
    return {
        "machine": machine(),
        "seconds": seconds,
        "elapsed_s": round(elapsed, 2),  # until the last query ended (those under way at the deadline finish)
        "concurrency": concurrency,
        "requests": len(queries),  # searches and questions (the ingest's requests are under upload, poll, job)
        "errors": query_errors + ingest.errors,  # failed queries (warm-up included), and failed ingest uploads or jobs
        "throughput_rps": round(in_window / seconds, 2) if seconds > 0 else 0.0,  # queries ended within the window
        **{kind: kind_stats([r for r in records if r.kind == kind]) for kind in (*QUERY_KINDS, *INGEST_KINDS)},
        "ingest": {
            "jobs": ingest.jobs,
            "documents": ingest.documents,
            "errors": ingest.errors,
            "docs_per_s": round(ingest.documents / ingest.seconds, 2) if ingest.seconds > 0 else 0.0,
        },
        "warmup": kind_stats([r for r in records if r.kind == "warmup"]),
        "first_errors": first_errors,
    }


def table(summary: dict) -> str:
    rows = ["| kind | count | errors | p50 ms | p90 ms | p99 ms | max ms |", "|---|---|---|---|---|---|---|"]
    for kind in (*QUERY_KINDS, "upload", "job"):
        s = summary[kind]
        rows.append(
            f"| {kind} | {s['count']} | {s['errors']} | {s['p50_ms']:,.1f} | {s['p90_ms']:,.1f} | "
            f"{s['p99_ms']:,.1f} | {s['max_ms']:,.1f} |"
        )
    ing = summary["ingest"]
    rows.append("")
    rows.append(
        f"{summary['requests']} queries from {summary['concurrency']} threads ({summary['seconds']} s, the last "
        f"ended after {summary['elapsed_s']} s): {summary['throughput_rps']} queries/s, {summary['errors']} errors; "
        f"ingest {ing['documents']} documents "
        f"in {ing['jobs']} jobs ({ing['docs_per_s']} docs/s, {ing['errors']} errors); {summary['machine']}"
    )
    return "\n".join(rows)
