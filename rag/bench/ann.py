"""The ANN benchmark: every index and reference on one dataset, in one process run.

For each runner: build (timed, peak RSS), save and reopen memory-mapped (timed,
bytes per vector), then for each sweep value search the queries one at a time
on one thread (p50/p99 latency, queries/s) and, in batch mode, all at once on
all cores. Each point's queries/s is the median of three runs, each searching the
queries over and over for at least 0.5 s (0.2 s in a smoke run; see
:mod:`rag.bench.timing`). Each measurement is one JSON line in ``results.jsonl``;
a summary (which says how the points were timed), a table and the plots go beside it.

    rag bench ann --dataset glove50-100k --specs 'HNSW32;IVF1024,PQ25x8' --out DIR
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from rag.bench.datasets import Dataset, load_dataset
from rag.bench.metrics import peak_rss_mb, percentiles, recall_at, reset_peak_rss, rss_mb
from rag.bench.plot import plot_runs
from rag.bench.runners import OursRunner, Runner, baseline_runners, temp_folder
from rag.bench.timing import FULL, SMOKE, Timing

DEFAULT_SPECS = "HNSW32;IVF1024,PQ25x8;PQ25x8;LSH512;KD32"


def machine() -> dict:
    from rag.bench.server_process import cpu_model

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
    }


def measure(
    runner: Runner, ds: Dataset, k: int, modes: tuple[str, ...], emit: Callable[[dict], None], timing: Timing = FULL
) -> None:
    """Build, save and reopen ``runner``'s index, then emit one row per sweep value and mode.

    ``timing`` says how each point is timed (:mod:`rag.bench.timing`).
    """
    reset_peak_rss()
    rss0 = rss_mb()
    t0 = time.perf_counter()
    runner.build(ds)
    build_s = time.perf_counter() - t0
    build_peak = peak_rss_mb() - rss0
    with temp_folder() as tmp:
        open_s, size = runner.save_and_open(Path(tmp))
        base = {
            "dataset": ds.name,
            "index": runner.label,
            "family": runner.family,
            "n": ds.database.shape[0],
            "dim": ds.dim,
            "k": k,
            "build_s": round(build_s, 3),
            "build_peak_rss_mb": round(build_peak, 1),
            "bytes_per_vector": round(size / ds.database.shape[0], 2),
            "open_ms": round(open_s * 1000, 3),
            "param": runner.param,
        }
        q, gt = ds.queries, ds.groundtruth
        for value in runner.values:  # warm-up: compile kernels, touch the mapped pages
            runner.search(q[:8], k, value)
        for value in runner.values:
            for mode in modes:
                row = dict(base, value=value, mode=mode)
                ids, rates, latency = _time_point(runner, q, k, value, mode, timing)
                qps = timing.pick(rates)
                row.update(latency or {"p50_ms": 1000.0 / qps, "p99_ms": 1000.0 / qps})
                row["qps"] = round(qps, 1)
                row["qps_runs"] = [round(r, 1) for r in rates]
                row["recall@1"] = round(recall_at(ids, gt, 1), 4)
                row["recall@10"] = round(recall_at(ids, gt, 10), 4)
                if mode == modes[0] and gt.shape[1] >= 100:
                    # Search-time parameters below k are raised to k by every runner.
                    wide = runner.search(q, 100, value)
                    row["recall@100"] = round(recall_at(wide, gt, 100), 4)
                row["peak_rss_mb"] = round(peak_rss_mb(), 1)
                emit(row)


def _time_point(
    runner: Runner, q: np.ndarray, k: int, value, mode: str, timing: Timing
) -> tuple[np.ndarray, list[float], dict | None]:
    """Time one (index, value, mode) point: the ids found, each run's queries/s, and (single) latency percentiles.

    Single mode sends one query per call on one thread, and its latencies are every
    call of every pass; batch mode sends all queries in one call on every core.
    """
    ids = np.empty((q.shape[0], k), dtype=np.int64)
    if mode == "single":
        runner.set_threads(1)
        latencies: list[float] = []

        def one_pass() -> float:
            start = len(latencies)
            for i in range(q.shape[0]):
                t = time.perf_counter()
                ids[i] = runner.search(q[i : i + 1], k, value)[0]
                latencies.append(time.perf_counter() - t)
            return float(np.sum(latencies[start:]))

        rates = timing.rates(q.shape[0], one_pass)
        return ids, rates, percentiles(latencies)
    runner.set_threads(os.cpu_count() or 1)

    def one_batch() -> float:
        t = time.perf_counter()
        ids[:] = runner.search(q, k, value)
        return time.perf_counter() - t

    return ids, timing.rates(q.shape[0], one_batch), None


def summarize(rows: list[dict], targets=(0.9, 0.95), mode: str = "single") -> list[dict]:
    """Per index: the best queries/s among runs reaching each recall@10 target."""
    out = []
    for label in dict.fromkeys(r["index"] for r in rows):
        runs = [r for r in rows if r["index"] == label and r["mode"] == mode]
        if not runs:
            continue
        entry = {
            "index": label,
            "build_s": runs[0]["build_s"],
            "bytes_per_vector": runs[0]["bytes_per_vector"],
            "open_ms": runs[0]["open_ms"],
            "max_recall@10": max(r["recall@10"] for r in runs),
        }
        for target in targets:
            ok = [r for r in runs if r["recall@10"] >= target]
            best = max(ok, key=lambda r: r["qps"] or 0) if ok else None
            entry[f"qps@{target}"] = best["qps"] if best else None
            entry[f"param@{target}"] = f"{best['param']}={best['value']}" if best and best["param"] else None
        out.append(entry)
    return out


def markdown_table(summary: list[dict], targets=(0.9, 0.95)) -> str:
    head = (
        "| index | build s | bytes/vec | open ms | max R@10 | "
        + " | ".join(f"QPS @R{t} (param)" for t in targets)
        + " |"
    )
    lines = [head, "|" + "---|" * (5 + len(targets))]
    for s in summary:
        cells = [
            s["index"],
            f"{s['build_s']:.2f}",
            f"{s['bytes_per_vector']:.0f}",
            f"{s['open_ms']:.2f}",
            f"{s['max_recall@10']:.3f}",
        ]
        for t in targets:
            cells.append(f"{s[f'qps@{t}']:.0f} ({s[f'param@{t}'] or '-'})" if s[f"qps@{t}"] else "not reached")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run(
    dataset: str,
    specs: list[str],
    baselines: list[str],
    out: Path,
    smoke: bool = False,
    modes: tuple[str, ...] = ("single", "batch"),
    k: int = 10,
    cache_dir: Path | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    timing: Timing | None = None,
) -> dict:
    """Run the benchmark and write results.jsonl, summary.json, summary.md and plot.{png,svg} to ``out``.

    ``timing`` says how each point is timed (default: ``timing.SMOKE`` for a smoke run, else
    ``timing.FULL``); the summary records it, with a sentence saying so (``measured``).
    """
    timing = timing or (SMOKE if smoke else FULL)
    out.mkdir(parents=True, exist_ok=True)
    ds = load_dataset(dataset, cache_dir=cache_dir, smoke=smoke)
    runners: list[Runner] = [OursRunner(s, smoke=smoke) for s in specs] + baseline_runners(baselines, specs, smoke)
    rows: list[dict] = []
    results = out / "results.jsonl"
    with results.open("w", encoding="utf-8") as fh:

        def emit(row: dict) -> None:
            rows.append(row)
            fh.write(json.dumps(row) + "\n")
            fh.flush()

        for i, runner in enumerate(runners):
            measure(runner, ds, k, modes, emit, timing)
            if progress:
                progress(i + 1, len(runners), runner.label)
    host = machine()
    summary = {
        "dataset": ds.name,
        "n": int(ds.database.shape[0]),
        "queries": int(ds.queries.shape[0]),
        "machine": host,
        "smoke": smoke,
        "timing": dict(timing.as_dict(), threads={"single": 1, "batch": host["cores"]}),
        "measured": timing.describe(host["cores"], host["cpu"]),
        "table": summarize(rows, mode=modes[0]),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "summary.md").write_text(markdown_table(summary["table"]) + "\n")
    plot_runs(rows, out / "plot", f"{ds.name}: recall@10 vs queries/s ({modes[0]} mode)", mode=modes[0])
    return summary
