"""``rag bench distributed``: Ray ingest beside the local path, and sharded search's fan-out latency.

Two measurements, written to ``out_dir/distributed.json`` and printed as tables:

* **Ingest throughput.** The same ``n_docs`` SciFact abstracts (``../shared/data/scifact/corpus.jsonl``,
  each written to a small ``.txt``) ingested into a fresh data directory, once by the local
  path (``Platform.ingest_pipeline.ingest_files``) and once by :func:`rag.distributed.ingest.ray_ingest`
  (2 embedding actors). Docs/s and chunks/s over the wall time; for Ray also the start-up of the
  local cluster (``init_ray``) apart, and the time from the first committed document to the last.
* **Fan-out latency.** ``n_vectors`` seeded random unit vectors (dim 384), per index spec and
  shard count: a :class:`rag.distributed.shards.ShardedIndex` is built and ``n_queries`` single
  queries (k = 10) are timed one at a time (p50/p99 ms), beside one in-process
  :class:`rag.store.vectors.store.VectorStore` over the same data (the "no Ray" baseline), with
  recall@10 against exact search.

Every shard actor and the driver share this machine's cores, so on a small machine the
fan-out numbers hold Ray's per-call overhead and the shards' competition for CPUs, not a
cluster's network.
"""

from __future__ import annotations

import json
import os
import platform as _platform
import tempfile
import time
from pathlib import Path

import numpy as np

from rag.bench.server_process import cpu_model

REPO = Path(__file__).resolve().parents[2]
SCIFACT = REPO.parent / "shared" / "data" / "scifact" / "corpus.jsonl"
DIM = 384
K = 10
WARMUP = 5


def _percentiles(ms: list[float]) -> dict:
    a = np.asarray(ms, dtype=np.float64)
    return {"p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99)), "mean_ms": float(a.mean())}


def write_abstracts(folder: Path, n_docs: int, corpus: Path = SCIFACT) -> list[Path]:
    """The first ``n_docs`` SciFact abstracts as ``folder/<id>.txt`` (title, blank line, text)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    with corpus.open(encoding="utf-8") as fh:
        for line in fh:
            if len(paths) >= n_docs:
                break
            doc = json.loads(line)
            path = folder / f"{doc['_id']}.txt"
            path.write_text(f"{doc['title']}\n\n{doc['text']}\n", encoding="utf-8")
            paths.append(path)
    return paths


def _tally(outcomes) -> tuple[int, int, int, float | None, float | None]:
    """(docs, chunks, failures, s to the first outcome, docs/s after the first committed batch) over a stream.

    Outcomes come a committed batch at a time; the rate after the first batch counts the
    documents that arrived later than 50 ms after the first one, over the time since it.
    """
    docs = chunks = failed = 0
    t0, first, stamps = time.perf_counter(), None, []
    for _, result in outcomes:
        stamps.append(time.perf_counter() - t0)
        if first is None:
            first = stamps[-1]
        if isinstance(result, Exception):
            failed += 1
            continue
        docs += 1
        chunks += result.n_chunks
    later = [t for t in stamps if first is not None and t > first + 0.05]
    rate = len(later) / (later[-1] - first) if later else None
    return docs, chunks, failed, first, rate


def bench_ingest(paths: list[Path], work: Path, workers: int = 2, batch: int = 16) -> dict:
    """Local ingest and Ray ingest of ``paths``, each into its own fresh data directory."""
    from rag.distributed import init_ray
    from rag.distributed.ingest import ray_ingest
    from rag.platform import Platform
    from rag.settings import Settings

    out: dict = {"docs": len(paths), "workers": workers, "batch": batch}

    platform = Platform(Settings.from_env().replace(data_dir=work / "local"))
    try:
        t0 = time.perf_counter()
        readers = [(p.name, p.read_bytes) for p in paths]
        docs, chunks, failed, _, _ = _tally(platform.ingest_pipeline.ingest_files("bench", readers, batch))
        wall = time.perf_counter() - t0
    finally:
        platform.close()
    out["local"] = {"wall_s": wall, "docs": docs, "chunks": chunks, "failed": failed,
                    "docs_per_s": docs / wall, "chunks_per_s": chunks / wall}  # fmt: skip

    platform = Platform(Settings.from_env().replace(data_dir=work / "ray"))
    try:
        t0 = time.perf_counter()
        init_ray(None, num_cpus=2)
        startup = time.perf_counter() - t0
        t1 = time.perf_counter()
        outcomes = ray_ingest(platform, "bench", paths, workers=workers, batch=batch)
        docs, chunks, failed, first, after_first = _tally(outcomes)
        end = time.perf_counter()
    finally:
        platform.close()
    pipeline = end - t1
    out["ray"] = {
        "wall_s": end - t0,
        "startup_s": startup,
        "pipeline_s": pipeline,
        "first_result_s": first,
        "docs": docs,
        "chunks": chunks,
        "failed": failed,
        "docs_per_s": docs / (end - t0),
        "chunks_per_s": chunks / (end - t0),
        "docs_per_s_no_startup": docs / pipeline,
        "chunks_per_s_no_startup": chunks / pipeline,
        "docs_per_s_after_first": after_first,
    }
    return out


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, DIM), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)]))


def _time_queries(search, queries: np.ndarray) -> tuple[list[float], np.ndarray]:
    for q in queries[:WARMUP]:
        search(q[None, :], K)
    ms, found = [], []
    for q in queries:
        t0 = time.perf_counter()
        r = search(q[None, :], K)
        ms.append((time.perf_counter() - t0) * 1e3)
        found.append(r.ids[0])
    return ms, np.asarray(found)


def bench_fanout(
    work: Path, n_vectors: int, n_queries: int, shards: tuple[int, ...], specs: tuple[str, ...], log=print
) -> list[dict]:
    """p50/p99 per spec x shard count (and the in-process baseline, shards = 0), with recall@10 vs exact."""
    from rag.distributed.shards import ShardedIndex
    from rag.store.vectors.store import VectorStore

    rng = np.random.default_rng(0)
    data = _unit(rng, n_vectors)
    queries = _unit(rng, n_queries)
    ids = np.arange(n_vectors, dtype=np.int64)
    truth = np.argsort(-(queries @ data.T), axis=1)[:, :K]

    rows = []
    for spec in specs:
        t0 = time.perf_counter()
        store = VectorStore(work / f"{spec}-inproc", DIM, "cosine", spec, background_merges=False)
        store.append(data, ids)
        build = time.perf_counter() - t0
        ms, found = _time_queries(store.search, queries)
        rows.append({"spec": spec, "shards": 0, "build_s": build, "recall_at_10": _recall(found, truth),
                     **_percentiles(ms)})  # fmt: skip
        log(f"  {spec} in-process: p50 {rows[-1]['p50_ms']:.2f} ms, recall {rows[-1]['recall_at_10']:.3f}")
        for n in shards:
            t0 = time.perf_counter()
            index = ShardedIndex(work / f"{spec}-{n}", n, DIM, "cosine", spec)
            try:
                index.add(data, ids)
                build = time.perf_counter() - t0
                counts = index.counts()
                ms, found = _time_queries(index.search, queries)
            finally:
                index.close()
            rows.append({"spec": spec, "shards": n, "build_s": build, "per_shard": counts,
                         "recall_at_10": _recall(found, truth), **_percentiles(ms)})  # fmt: skip
            log(f"  {spec} x{n}: p50 {rows[-1]['p50_ms']:.2f} ms, recall {rows[-1]['recall_at_10']:.3f}")
    base = {r["spec"]: r["p50_ms"] for r in rows if r["shards"] == 0}
    for r in rows:
        r["fanout_overhead_p50_ms"] = r["p50_ms"] - base[r["spec"]] if r["shards"] else 0.0
    return rows


def machine() -> dict:
    return {"cpus": os.cpu_count(), "cpu": cpu_model(), "python": _platform.python_version()}


def tables(summary: dict) -> str:
    """The result tables (ingest, when it ran, and fan-out), as Markdown."""
    lines = _ingest_table(summary["ingest"]) if "ingest" in summary else []
    q = summary["fanout"]
    lines += [
        "",
        f"Query: {q['n_vectors']} random unit vectors, dim {DIM}, {q['n_queries']} single queries, k = {K}",
        "",
        "| spec | shards | p50 ms | p99 ms | fan-out overhead (p50) ms | recall@10 | build s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in q["rows"]:
        label = "in-process" if r["shards"] == 0 else str(r["shards"])
        over = "-" if r["shards"] == 0 else f"{r['fanout_overhead_p50_ms']:+.2f}"
        lines.append(
            f"| {r['spec']} | {label} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {over} "
            f"| {r['recall_at_10']:.3f} | {r['build_s']:.1f} |"
        )
    return "\n".join(lines)


def _ingest_table(ing: dict) -> list[str]:
    lines = [
        f"Ingest: {ing['docs']} SciFact abstracts, batch {ing['batch']}, Ray workers {ing['workers']}",
        "",
        "| path | wall s | docs/s | chunks/s | start-up s | docs/s without start-up | docs/s after first result |",
        "|---|---|---|---|---|---|---|",
    ]
    lo, ra = ing["local"], ing["ray"]
    lines.append(f"| local | {lo['wall_s']:.1f} | {lo['docs_per_s']:.1f} | {lo['chunks_per_s']:.1f} | - | - | - |")
    after = ra["docs_per_s_after_first"]
    lines.append(
        f"| Ray | {ra['wall_s']:.1f} | {ra['docs_per_s']:.1f} | {ra['chunks_per_s']:.1f} | {ra['startup_s']:.1f} "
        f"| {ra['docs_per_s_no_startup']:.1f} | {after:.1f} |"
        if after
        else f"| Ray | {ra['wall_s']:.1f} | {ra['docs_per_s']:.1f} | {ra['chunks_per_s']:.1f} | "
        f"{ra['startup_s']:.1f} | {ra['docs_per_s_no_startup']:.1f} | - |"
    )
    return lines


def run(
    out_dir: Path | str,
    n_docs: int = 300,
    n_vectors: int = 50_000,
    n_queries: int = 200,
    shards: tuple[int, ...] = (1, 2, 4),
    specs: tuple[str, ...] = ("Flat", "HNSW32"),
    log=print,
) -> dict:
    """Both measurements; writes ``out_dir/distributed.json``, prints the tables, returns the summary."""
    from rag.distributed import require_ray

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ray = require_ray()  # imported here, so the timed start-up (init_ray in bench_ingest) is the cluster's alone
    summary: dict = {"machine": machine()}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-distributed-") as tmp:
            work = Path(tmp)
            if n_docs > 0:
                paths = write_abstracts(work / "docs", n_docs)
                log(f"ingest: {len(paths)} abstracts, local then Ray")
                summary["ingest"] = bench_ingest(paths, work)
            else:
                from rag.distributed import init_ray

                init_ray(None, num_cpus=2)  # as bench_ingest does
            log(f"fan-out: {n_vectors} vectors, specs {', '.join(specs)}, shards {shards}")
            rows = bench_fanout(work / "vectors", n_vectors, n_queries, tuple(shards), tuple(specs), log=log)
            summary["fanout"] = {"n_vectors": n_vectors, "n_queries": n_queries, "dim": DIM, "k": K, "rows": rows}
    finally:
        ray.shutdown()
    (out_dir / "distributed.json").write_text(json.dumps(summary, indent=2))
    print(tables(summary))
    return summary
