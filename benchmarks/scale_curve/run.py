"""Running one index on one synthetic dataset, in its own process (see the package docstring)."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks.scale_curve.config import INDEXES
from rag.bench.ann import machine, measure, summarize
from rag.bench.datasets import Dataset, load_dataset
from rag.bench.metrics import rss_mb
from rag.bench.runners import FaissRunner, HnswlibRunner, OursRunner
from rag.bench.timing import Timing


def nlist_for(n: int) -> int:
    """IVF4096 where FAISS's 39 points per centroid hold, else the largest power of two <= 4 sqrt(n)."""
    if n >= 39 * 4096:
        return 4096
    return 2 ** int(math.log2(4 * math.sqrt(n)))


# --- running one index -----------------------------------------------------------------------


class _Extras:
    """Per-build facts beyond what :func:`measure` records: the train/add split, the CPU time, the
    resident size after the build, and how the reopen went (mmap or a full read)."""

    def build(self, ds: Dataset) -> None:
        rss0, cpu0 = rss_mb(), time.process_time()
        super().build(ds)
        self.extras = {
            "train_s": round(self.train_seconds, 3),
            "add_s": round(self.add_seconds, 3),
            # CPU seconds of the whole build, all threads: steadier than wall time on a shared machine.
            "build_cpu_s": round(time.process_time() - cpu0, 3),
            "rss_after_build_mb": round(rss_mb() - rss0, 1),
        }

    def save_and_open(self, folder: Path) -> tuple[float, int]:
        out = super().save_and_open(folder)
        self.extras["open_mode"] = self.open_mode
        return out


class ScaleOurs(_Extras, OursRunner):
    pass


class ScaleHnswlib(_Extras, HnswlibRunner):
    pass


class ScaleFaiss(_Extras, FaissRunner):
    pass


def make_runner(name: str, n: int, pq_m: int = 48):
    nlist = nlist_for(n)
    if name == "HNSW32":
        return ScaleOurs("HNSW32")
    if name == "IVFPQ":
        return ScaleOurs(f"IVF{nlist},PQ{pq_m}x8")
    if name == "hnswlib-M32":
        return ScaleHnswlib(32, ef_construction=200)
    if name == "faiss-HNSW32":
        return ScaleFaiss("HNSW32,Flat", ef_construction=200)
    if name == "faiss-HNSW32-efC40":
        return ScaleFaiss("HNSW32,Flat")
    if name == "faiss-IVFPQ":
        return ScaleFaiss(f"IVF{nlist},PQ{pq_m}x8", polysemous=False)
    if name == "faiss-IVFPQ-poly":
        return ScaleFaiss(f"IVF{nlist},PQ{pq_m}x8")
    raise ValueError(f"unknown index {name!r}; use one of {', '.join(INDEXES)}")


def cached_dataset(name: str, cache: Path) -> Dataset:
    """``load_dataset(name)``, its arrays kept as .npy under ``cache`` (the exact ground truth of 1M costs minutes)."""
    folder = cache / name
    parts = ("database", "queries", "groundtruth")
    if all((folder / f"{p}.npy").is_file() for p in parts):
        meta = json.loads((folder / "meta.json").read_text())
        arrays = {p: np.load(folder / f"{p}.npy") for p in parts}
        return Dataset(meta["name"], metric=meta["metric"], info=meta["info"], **arrays)
    ds = load_dataset(name)
    folder.mkdir(parents=True, exist_ok=True)
    for p in parts:
        np.save(folder / f"{p}.npy", getattr(ds, p))
    (folder / "meta.json").write_text(json.dumps({"name": ds.name, "metric": ds.metric, "info": ds.info}))
    return ds


def run_one(dataset: str, index: str, results: Path, cache: Path, repeats: int) -> dict:
    ds = cached_dataset(dataset, cache)
    n = int(ds.database.shape[0])
    runner = make_runner(index, n)
    out = results / ds.name / index
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    load0 = os.getloadavg()[0]
    partial = out / "results.jsonl.partial"  # renamed when complete: a killed run leaves no results.jsonl
    with partial.open("w", encoding="utf-8") as fh:

        def emit(row: dict) -> None:
            row = dict(row, series=index, loadavg1=round(os.getloadavg()[0], 2), **runner.extras)
            rows.append(row)
            fh.write(json.dumps(row) + "\n")
            fh.flush()

        # One thread for every library's BLAS too: our k-means assigns with a BLAS product.
        with threadpool_limits(limits=1):
            measure(runner, ds, 10, ("single",), emit, Timing(min_seconds=0.0, repeats=repeats, statistic="best"))
    partial.replace(out / "results.jsonl")
    summary = {
        "dataset": ds.name,
        "series": index,
        "n": n,
        "dim": ds.dim,
        "queries": int(ds.queries.shape[0]),
        "repeats": repeats,
        "machine": machine(),
        "loadavg1_start": round(load0, 2),
        "loadavg1_end": round(os.getloadavg()[0], 2),
        "table": summarize(rows, mode="single"),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


# --- summarising -----------------------------------------------------------------------------
