"""``rag bench ann``, ``rag bench rag``, ``rag bench load``, ``rag bench distributed``: :mod:`rag.bench` on the CLI."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rag.cli import GLOBAL_OPTIONS


def register(sub) -> None:
    p = sub.add_parser("bench", parents=[GLOBAL_OPTIONS], help="run benchmarks (ANN indexes, end-to-end RAG)")
    bench = p.add_subparsers(dest="bench", required=True, metavar="KIND")
    _register_ann(bench)
    _register_rag(bench)
    _register_load(bench)
    _register_distributed(bench)


def _register_ann(bench) -> None:
    a = bench.add_parser(
        "ann", parents=[GLOBAL_OPTIONS], help="recall vs queries/s of our indexes beside hnswlib and FAISS"
    )
    a.add_argument(
        "--dataset", default="glove50-100k", help="glove50-10k, glove50-100k, scifact-minilm or synthetic-N[-dD]"
    )
    a.add_argument(
        "--specs",
        default="HNSW32;IVF1024,PQ25x8;PQ25x8;LSH512;KD32",
        help="our index specs separated by ';' (a spec may hold a comma)",
    )
    a.add_argument("--baselines", default="hnswlib,faiss", help="comma-separated references, or ''")
    a.add_argument("--out", type=Path, default=Path("benchmarks/results/ann"))
    a.add_argument("--mode", choices=["single", "batch", "both"], default="both")
    a.add_argument("--smoke", action="store_true", help="quick run on glove50-10k (under a minute)")
    a.add_argument("--repeats", type=int, default=3, help="timed runs per point, the median kept (default 3)")
    a.add_argument(
        "--min-seconds",
        type=float,
        help="search time of each run: the queries repeat until it is reached (default 0.5, smoke 0.2)",
    )
    a.set_defaults(func=cmd_ann)


def _register_rag(bench) -> None:
    r = bench.add_parser("rag", parents=[GLOBAL_OPTIONS], help="ingest throughput and per-stage query latency")
    r.add_argument("--collection", default="default")
    r.add_argument("--questions", type=Path, help="questions: .jsonl with 'question' or one per line")
    r.add_argument("--ingest", nargs="*", type=Path, default=[], help="files to ingest (and time) first")
    r.add_argument("-k", type=int, default=5)
    r.add_argument("--ingest-batch", type=int, default=16, help="files per ingest write (a multi-file upload)")
    r.add_argument("--probe-threads", type=int, default=4, help="threads searching during the ingest (0: none)")
    r.add_argument("--out", type=Path)
    r.add_argument(
        "--context",
        choices=("prompt", "retro"),
        default="prompt",
        help="how answers take the passages: prompt, or retro (reports the fusion stage and decode tokens/s with CCA)",
    )
    r.add_argument(
        "--scale",
        type=int,
        metavar="N",
        help="time each query stage on a collection of N chunks (built once from SciFact; see rag/bench/scale.py)",
    )
    r.add_argument("--scale-corpus", type=Path, default=Path("../shared/data/scifact/corpus.jsonl"))
    r.add_argument(
        "--scale-base-store",
        type=Path,
        help="take the real chunks and vectors from this store's only collection (e.g. a rag eval beir cache)",
    )
    r.add_argument("--scale-configs", help="comma-separated configurations of rag/bench/scale.py (default all)")
    r.add_argument("--repeats", type=int, default=3, help="passes over the questions per configuration (--scale)")
    r.set_defaults(func=cmd_rag)


def _register_load(bench) -> None:
    lo = bench.add_parser(
        "load",
        parents=[GLOBAL_OPTIONS],
        help="queries against a real server on the loopback while an ingest runs: latency, throughput, errors",
    )
    lo.add_argument("--seconds", type=float, default=60.0, help="how long the queries and the ingest run")
    lo.add_argument("--concurrency", type=int, default=4, help="threads sending queries")
    lo.add_argument("--out", type=Path, default=Path("benchmarks/results/load"))
    lo.add_argument("-k", type=int, default=5)
    lo.add_argument("--ask-fraction", type=float, default=0.1, help="share of the queries that ask (mode extract)")
    lo.add_argument("--seed-docs", type=int, default=200, help="SciFact abstracts stored before the load")
    lo.add_argument("--ingest-batch", type=int, default=16, help="files per ingest upload during the load")
    lo.add_argument("--server-data-dir", type=Path, help="the server's data directory (default: a fresh temporary one)")
    lo.set_defaults(func=cmd_load)


def _register_distributed(bench) -> None:
    d = bench.add_parser(
        "distributed",
        parents=[GLOBAL_OPTIONS],
        help="Ray ingest vs the local path, and sharded search's fan-out latency vs one in-process index",
    )
    d.add_argument("--docs", type=int, default=300, help="SciFact abstracts ingested by each path (0: no ingest)")
    d.add_argument("--vectors", type=int, default=50_000, help="random unit vectors (dim 384) in the sharded index")
    d.add_argument("--queries", type=int, default=200, help="single queries timed per spec and shard count")
    d.add_argument("--shards", default="1,2,4", help="comma-separated shard counts")
    d.add_argument("--specs", default="Flat;HNSW32", help="index specs separated by ';'")
    d.add_argument("--out", type=Path, default=Path("benchmarks/results/distributed"))
    d.set_defaults(func=cmd_distributed)


def cmd_ann(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from rag.bench.ann import markdown_table, run
    from rag.bench.timing import FULL, SMOKE, Timing
    from rag.cli import settings_from

    dataset = "glove50-10k" if args.smoke and args.dataset == "glove50-100k" else args.dataset
    specs = [s.strip() for s in args.specs.split(";") if s.strip()]
    baselines = [b.strip() for b in args.baselines.split(",") if b.strip()]
    modes = ("single", "batch") if args.mode == "both" else (args.mode,)
    cache = settings_from(args).data_dir / "bench-cache"
    with tqdm(desc="indexes", unit="index", file=sys.stderr, disable=not sys.stderr.isatty()) as bar:

        def progress(done: int, total: int, label: str) -> None:
            bar.total = total
            bar.set_postfix_str(label)
            bar.update(1)

        floor = args.min_seconds if args.min_seconds is not None else (SMOKE if args.smoke else FULL).min_seconds
        timing = Timing(min_seconds=floor, repeats=args.repeats)
        summary = run(
            dataset, specs, baselines, args.out, args.smoke, modes, cache_dir=cache, progress=progress, timing=timing
        )
    print(markdown_table(summary["table"]))
    print(f"\n{summary['measured']}")
    print(f"\nresults: {args.out}/results.jsonl, plot: {args.out}/plot.png")
    return 0


def cmd_rag(args: argparse.Namespace) -> int:
    from rag.bench.e2e import run
    from rag.cli import settings_from
    from rag.platform import Platform

    platform = Platform(settings_from(args))
    try:
        if args.scale:
            report = _scale(platform, args)
        else:
            report = run(
                platform, args.collection, args.questions, list(args.ingest), args.out, args.k,
                args.ingest_batch, args.probe_threads, args.context,
            )  # fmt: skip
    finally:
        platform.close()
    print(json.dumps(report, indent=2))
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    from rag.bench.load import run

    summary = run(
        args.out, seconds=args.seconds, concurrency=args.concurrency, data_dir=args.server_data_dir, k=args.k,
        ask_fraction=args.ask_fraction, seed_docs=args.seed_docs, ingest_batch=args.ingest_batch,
    )  # fmt: skip
    print(f"\nresults: {args.out}/load.json, server log: {args.out}/server.log")
    return 1 if summary["errors"] else 0


def cmd_distributed(args: argparse.Namespace) -> int:
    from rag.bench.distributed import run

    shards = tuple(int(s) for s in args.shards.split(",") if s.strip())
    specs = tuple(s.strip() for s in args.specs.split(";") if s.strip())
    log = lambda message: print(message, file=sys.stderr)  # noqa: E731
    run(args.out, n_docs=args.docs, n_vectors=args.vectors, n_queries=args.queries, shards=shards, specs=specs, log=log)
    print(f"\nresults: {args.out}/distributed.json")
    return 0


def _scale(platform, args: argparse.Namespace) -> dict:
    from rag.bench import scale
    from rag.bench.e2e import PROBE_QUERIES, read_questions

    queries = read_questions(args.questions) if args.questions else list(PROBE_QUERIES)
    configs = [c.strip() for c in args.scale_configs.split(",")] if args.scale_configs else None
    log = lambda message: print(message, file=sys.stderr)  # noqa: E731
    report = scale.run(
        platform, args.scale, args.scale_corpus, queries, configs, args.repeats, args.scale_base_store, log=log
    )
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"rag_scale_{args.scale}.json").write_text(json.dumps(report, indent=2))
    return report
