"""Search sweeps over graphs built once and saved: ours, hnswlib and FAISS HNSW, passes alternating in one process.

At 1M x 384 a build takes tens of minutes, so the graphs are built once (the
``--build`` step, one library per process, so each build's peak RSS is its own)
and every search comparison reopens them. One pass searches every query once,
one query per call, on one thread, as :func:`rag.bench.ann.measure` does; passes
of the indexes alternate (``ef``, then index, within each round), so load from
other processes slows all of them alike. Per point: the best pass's queries/s,
the median latency over every pass, recall@10::

    python -m benchmarks.scale_curve.saved --build ours --dataset synthetic-1000000 --graphs /tmp/graphs
    python -m benchmarks.scale_curve.saved --dataset synthetic-1000000 --graphs /tmp/graphs \\
        --out benchmarks/results/scale-saved-1000000-d384-summary.json

Series: ``HNSW32`` (ours, the default ``traverse="auto"``: 8-bit codes at this
size), ``HNSW32-float32`` (ours walking the float32 vectors), ``hnswlib-M32`` and
``faiss-HNSW32`` (efConstruction=200 for all three).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.scale_curve.report import qps_at
from benchmarks.scale_curve.run import cached_dataset
from rag.bench.metrics import peak_rss_mb, recall_at, reset_peak_rss, rss_mb
from rag.bench.runners import normalized

EFS = (10, 12, 16, 20, 24, 32, 48, 64, 96, 128)
TARGETS = (0.9, 0.95)


def build(lib: str, ds, folder: Path, threads: int) -> dict:
    """Build ``lib``'s M=32 efC=200 graph of ``ds`` into ``folder``; returns its build seconds and peak RSS."""
    folder.mkdir(parents=True, exist_ok=True)
    db = ds.database
    reset_peak_rss()
    rss0, t0 = rss_mb(), time.perf_counter()
    if lib == "ours":
        import indexes

        index = indexes.create("HNSW32", ds.dim, ds.metric)
        index.add(db)
        save: Callable[[], object] = lambda: index.save(folder / "ours")  # noqa: E731
    elif lib == "hnswlib":
        import hnswlib

        index = hnswlib.Index(space=ds.metric, dim=ds.dim)
        index.init_index(max_elements=db.shape[0], M=32, ef_construction=200)
        index.set_num_threads(threads)
        index.add_items(db, np.arange(db.shape[0]))
        save = lambda: index.save_index(str(folder / "hnswlib.bin"))  # noqa: E731
    else:
        import faiss

        faiss.omp_set_num_threads(threads)
        index = faiss.index_factory(ds.dim, "HNSW32,Flat", faiss.METRIC_L2)
        index.hnsw.efConstruction = 200
        index.add(normalized(db))
        save = lambda: faiss.write_index(index, str(folder / "faiss.index"))  # noqa: E731
    info = {
        "lib": lib,
        "n": int(db.shape[0]),
        "dim": ds.dim,
        "threads": threads if lib != "ours" else 1,
        "build_s": round(time.perf_counter() - t0, 1),
        "build_peak_rss_mb": round(peak_rss_mb() - rss0, 1),
        "loadavg1": round(os.getloadavg()[0], 2),
    }
    save()
    (folder / f"build-{lib}.json").write_text(json.dumps(info) + "\n")
    return info


def searchers(folder: Path, dim: int) -> dict[str, Callable[[np.ndarray, int], np.ndarray]]:
    """``name -> search(q (1, d), ef) -> ids (1, 10)`` for every saved graph found in ``folder``."""
    out: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {}
    if (folder / "ours").is_dir():
        import indexes

        ours = indexes.load(folder / "ours", mmap=True)
        out["HNSW32"] = lambda q, ef: ours.search(q, 10, ef_search=ef).ids
        out["HNSW32-float32"] = lambda q, ef: ours.search(q, 10, ef_search=ef, traverse="float32").ids
    if (folder / "hnswlib.bin").is_file():
        import hnswlib

        h = hnswlib.Index(space="cosine", dim=dim)
        h.load_index(str(folder / "hnswlib.bin"))
        h.set_num_threads(1)

        def hnsw(q, ef):
            h.set_ef(ef)
            return h.knn_query(q, k=10, num_threads=1)[0]

        out["hnswlib-M32"] = hnsw
    if (folder / "faiss.index").is_file():
        import faiss

        faiss.omp_set_num_threads(1)
        f = faiss.read_index(str(folder / "faiss.index"))

        def fhnsw(q, ef):
            f.hnsw.efSearch = ef
            return f.search(normalized(q), 10)[1]

        out["faiss-HNSW32"] = fhnsw
    return out


def sweep(ds, folder: Path, rounds: int, efs=EFS, only: tuple[str, ...] = ()) -> list[dict]:
    """Rows (series, ef, qps, p50_ms, recall@10) of alternating single-query passes over the saved graphs."""
    fns = {k: v for k, v in searchers(folder, ds.dim).items() if not only or k in only}
    q, gt = ds.queries, ds.groundtruth
    lat: dict[tuple, list[float]] = {(s, ef): [] for s in fns for ef in efs}
    best: dict[tuple, float] = {}
    found: dict[tuple, np.ndarray] = {}
    for fn in fns.values():  # warm-up: compile, touch pages
        for ef in efs:
            for i in range(16):
                fn(q[i : i + 1], ef)
    for _ in range(rounds):
        for ef in efs:
            for s, fn in fns.items():
                ids = np.empty((q.shape[0], 10), dtype=np.int64)
                times = lat[(s, ef)]
                start = len(times)
                for i in range(q.shape[0]):
                    t = time.perf_counter()
                    ids[i] = fn(q[i : i + 1], ef)[0]
                    times.append(time.perf_counter() - t)
                best[(s, ef)] = max(best.get((s, ef), 0.0), q.shape[0] / float(np.sum(times[start:])))
                found[(s, ef)] = ids
    return [
        {
            "series": s,
            "param": "ef",
            "value": ef,
            "qps": round(best[(s, ef)], 1),
            "p50_ms": round(float(np.median(lat[(s, ef)])) * 1000, 4),
            "recall@10": round(recall_at(found[(s, ef)], gt, 10), 4),
        }
        for s in fns
        for ef in efs
    ]


def at_targets(rows: list[dict]) -> dict:
    """Per series: QPS (measured and interpolated) and p50 at each recall target, see :func:`report.qps_at`."""
    out: dict[str, dict] = {}
    for s in dict.fromkeys(r["series"] for r in rows):
        runs = [r for r in rows if r["series"] == s]
        out[s] = {str(t): qps_at(runs, t) for t in TARGETS}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, help="synthetic-N[-dD]")
    p.add_argument("--graphs", type=Path, required=True, help="folder of the saved graphs")
    p.add_argument("--cache", type=Path, default=Path("/tmp/scale-data"))
    p.add_argument("--build", choices=("ours", "hnswlib", "faiss"), help="build and save this library's graph")
    p.add_argument("--threads", type=int, default=1, help="build threads of hnswlib / FAISS")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--only", nargs="*", default=(), help="series to sweep (default: every saved graph)")
    p.add_argument("--out", type=Path, help="JSON of the sweep")
    args = p.parse_args(argv)
    ds = cached_dataset(args.dataset, args.cache)
    if args.build:
        print(json.dumps(build(args.build, ds, args.graphs, args.threads)))
        return 0
    load0 = os.getloadavg()[0]
    rows = sweep(ds, args.graphs, args.rounds, only=tuple(args.only))
    builds = {f.stem: json.loads(f.read_text()) for f in sorted(args.graphs.glob("build-*.json"))}
    result = {
        "dataset": ds.name,
        "what": "single query per call, 1 thread, k=10; passes alternate between indexes; qps = best pass",
        "loadavg1_start": round(load0, 2),
        "loadavg1_end": round(os.getloadavg()[0], 2),
        "builds": builds,
        "at_targets": at_targets(rows),
        "rows": rows,
    }
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["at_targets"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
