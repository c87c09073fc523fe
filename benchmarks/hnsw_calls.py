"""Single-query calls per second of our HNSW beside hnswlib, at equal recall@10.

Builds (or loads from ``--cache``) our ``HNSW{M}`` and hnswlib ``M`` on one
dataset with the same ``ef_construction``, picks for each the smallest
``ef`` in a sweep whose recall@10 reaches ``--target``, then times one query
per call on one thread (hnswlib ``num_threads=1``), alternating passes of the
two libraries so that drifting load on the machine hits both alike. Each
library's figure is its best pass; ``ratio`` is ours / hnswlib queries/s, and
``pass_ratios`` the ratio of each interleaved pair of passes.

    .venv/bin/python -m benchmarks.hnsw_calls --dataset glove50-100k --m 16 32 --out /tmp/hnsw-calls.json

``--only ours`` (or ``hnswlib``) times one side alone at given ``--ef`` values,
for whole-process A/B comparisons of two versions of the code.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

import indexes
from rag.bench.datasets import load_dataset
from rag.bench.metrics import recall_at

# CPU seconds of each pass, in order (the thread's own time: preemption by other load does not count).
CPU: list[float] = []
EFS = [10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 64, 96, 128, 192, 256]


def ours_index(ds, m: int, efc: int, cache: Path):
    path = cache / f"{ds.name}-HNSW{m}-efc{efc}"
    if not (path / "meta.json").is_file():
        index = indexes.create(f"HNSW{m},ef_construction={efc}", ds.dim, ds.metric)
        t = time.perf_counter()
        index.add(ds.database)
        print(f"built ours HNSW{m} in {time.perf_counter() - t:.1f} s", flush=True)
        index.save(str(path))
    return indexes.load(str(path), mmap=False)


def hnswlib_index(ds, m: int, efc: int, cache: Path):
    import hnswlib

    space = {"cosine": "cosine", "ip": "ip", "l2": "l2"}[ds.metric]
    path = cache / f"{ds.name}-hnswlib-M{m}-efc{efc}.bin"
    index = hnswlib.Index(space=space, dim=ds.dim)
    if not path.is_file():
        index.init_index(max_elements=ds.database.shape[0], M=m, ef_construction=efc)
        index.set_num_threads(1)
        t = time.perf_counter()
        index.add_items(ds.database, np.arange(ds.database.shape[0]))
        print(f"built hnswlib M={m} in {time.perf_counter() - t:.1f} s", flush=True)
        index.save_index(str(path))
    else:
        index.load_index(str(path), max_elements=ds.database.shape[0])
    index.set_num_threads(1)
    return index


def ours_pass(index, rows, k: int, ef: int, defaults: bool) -> tuple[float, np.ndarray]:
    """One pass over the queries, one per call; returns (seconds, ids) and adds the pass's CPU seconds to CPU."""
    ids = np.empty((len(rows), k), dtype=np.int64)
    search = index.search
    if defaults:
        index.set_search_defaults(ef_search=ef)
        t, c = time.perf_counter(), time.thread_time()
        for i, q in enumerate(rows):
            ids[i] = search(q, k).ids[0]
    else:
        t, c = time.perf_counter(), time.thread_time()
        for i, q in enumerate(rows):
            ids[i] = search(q, k, ef_search=ef).ids[0]
    CPU.append(time.thread_time() - c)
    return time.perf_counter() - t, ids


def hnswlib_pass(index, rows, k: int, ef: int) -> tuple[float, np.ndarray]:
    ids = np.empty((len(rows), k), dtype=np.int64)
    index.set_ef(max(ef, k))
    query = index.knn_query
    t, c = time.perf_counter(), time.thread_time()
    for i, q in enumerate(rows):
        ids[i] = query(q, k=k, num_threads=1)[0][0]
    CPU.append(time.thread_time() - c)
    return time.perf_counter() - t, ids


def pick_ef(recall_of, target: float, efs: list[int]) -> tuple[int, float]:
    """Smallest ef whose recall@10 reaches target (the largest tried when none does)."""
    r = 0.0
    for ef in efs:
        r = recall_of(ef)
        if r >= target:
            return ef, r
    return efs[-1], r


def measure(ds, m: int, efc: int, k: int, target: float, passes: int, cache: Path, efs: list[int]) -> dict:
    import hnswlib  # noqa: F401  (fail early when the baseline is missing)

    ours, theirs = ours_index(ds, m, efc, cache), hnswlib_index(ds, m, efc, cache)
    q, gt = ds.queries, ds.groundtruth
    rows = [q[i : i + 1] for i in range(q.shape[0])]

    def ours_recall(ef):
        return recall_at(ours.search(q, k, ef_search=ef).ids, gt, k)

    def theirs_recall(ef):
        theirs.set_ef(max(ef, k))
        return recall_at(theirs.knn_query(q, k=k, num_threads=1)[0].astype(np.int64), gt, k)

    ef_o, r_o = pick_ef(ours_recall, target, efs)
    ef_h, r_h = pick_ef(theirs_recall, target, efs)
    # Warm-up: compile / load kernels, touch every page the queries touch.
    ours_pass(ours, rows, k, ef_o, False)
    hnswlib_pass(theirs, rows, k, ef_h)
    t_o, t_od, t_h, pairs, cpu_o, cpu_h = [], [], [], [], [], []
    for _ in range(passes):
        a, ids_o = ours_pass(ours, rows, k, ef_o, False)
        cpu_o.append(CPU[-1])
        b, ids_d = ours_pass(ours, rows, k, ef_o, True)
        c, ids_h = hnswlib_pass(theirs, rows, k, ef_h)
        cpu_h.append(CPU[-1])
        t_o.append(a)
        t_od.append(b)
        t_h.append(c)
        pairs.append(c / a)
    ours.set_search_defaults(ef_search=64)
    nq = q.shape[0]
    out = {
        "dataset": ds.name,
        "n": int(ds.database.shape[0]),
        "dim": ds.dim,
        "M": m,
        "ef_construction": efc,
        "k": k,
        "target_recall@10": target,
        "ours": {
            "ef_search": ef_o,
            "recall@10": round(r_o, 4),
            "single_recall@10": round(recall_at(ids_o, gt, k), 4),
            "qps": round(nq / min(t_o), 1),
            "qps_median": round(nq / float(np.median(t_o)), 1),
            "qps_defaults": round(nq / min(t_od), 1),
            "us_per_call": round(1e6 * min(t_o) / nq, 2),
        },
        "hnswlib": {
            "ef": ef_h,
            "recall@10": round(r_h, 4),
            "single_recall@10": round(recall_at(ids_h, gt, k), 4),
            "qps": round(nq / min(t_h), 1),
            "qps_median": round(nq / float(np.median(t_h)), 1),
            "us_per_call": round(1e6 * min(t_h) / nq, 2),
        },
    }
    out["ratio"] = round(min(t_h) / min(t_o), 3)
    out["ratio_defaults"] = round(min(t_h) / min(t_od), 3)
    out["pass_ratios"] = [round(x, 3) for x in pairs]
    out["ratio_median_of_pairs"] = round(float(np.median(pairs)), 3)
    out["ratio_cpu"] = round(min(cpu_h) / min(cpu_o), 3)  # by each side's best CPU time per pass
    return out


def batch_measure(ds, m: int, efc: int, k: int, ef: int, cache: Path, passes: int) -> dict:
    """Queries/s of one call over all queries (both cores) beside hnswlib's knn_query on all cores."""
    ours, theirs = ours_index(ds, m, efc, cache), hnswlib_index(ds, m, efc, cache)
    q = ds.queries
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    theirs.set_ef(max(ef, k))
    ours.search(q, k, ef_search=ef)
    theirs.knn_query(q, k=k, num_threads=cores)
    t_o, t_h = [], []
    for _ in range(passes):
        t = time.perf_counter()
        ours.search(q, k, ef_search=ef)
        t_o.append(time.perf_counter() - t)
        t = time.perf_counter()
        theirs.knn_query(q, k=k, num_threads=cores)
        t_h.append(time.perf_counter() - t)
    nq = q.shape[0]
    return {
        "dataset": ds.name,
        "M": m,
        "ef": ef,
        "cores": cores,
        "ours_batch_qps": round(nq / min(t_o), 1),
        "hnswlib_batch_qps": round(nq / min(t_h), 1),
    }


def only(ds, side: str, m: int, efc: int, k: int, ef: int, passes: int, cache: Path) -> dict:
    rows = [ds.queries[i : i + 1] for i in range(ds.queries.shape[0])]
    if side == "ours":
        index = ours_index(ds, m, efc, cache)
        times = [ours_pass(index, rows, k, ef, False)[0] for _ in range(passes)]
    else:
        index = hnswlib_index(ds, m, efc, cache)
        times = [hnswlib_pass(index, rows, k, ef)[0] for _ in range(passes)]
    return {"side": side, "M": m, "ef": ef, "qps": round(len(rows) / min(times), 1)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="glove50-100k")
    ap.add_argument("--m", type=int, nargs="+", default=[16, 32])
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--target", type=float, default=0.95)
    ap.add_argument("--passes", type=int, default=5)
    ap.add_argument("--efs", type=int, nargs="+", default=EFS, help="ef values tried, smallest first")
    ap.add_argument("--batch", action="store_true", help="also time one call over all queries on every core")
    ap.add_argument("--only", choices=("ours", "hnswlib"), help="time one side at --ef (whole-process A/B)")
    ap.add_argument("--ef", type=int, default=24)
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "hnsw-calls-cache")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)
    ds = load_dataset(args.dataset, cache_dir=args.cache)
    results = []
    for m in args.m:
        if args.only:
            row = only(ds, args.only, m, args.ef_construction, args.k, args.ef, args.passes, args.cache)
        else:
            row = measure(ds, m, args.ef_construction, args.k, args.target, args.passes, args.cache, args.efs)
            if args.batch:
                row["batch"] = batch_measure(
                    ds, m, args.ef_construction, args.k, row["ours"]["ef_search"], args.cache, args.passes
                )
        print(json.dumps(row), flush=True)
        results.append(row)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
