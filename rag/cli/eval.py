"""``rag eval beir``: retrieval quality of each search configuration on a BEIR-format set (or a SQuAD file)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rag.cli import GLOBAL_OPTIONS


def register(sub) -> None:
    p = sub.add_parser("eval", parents=[GLOBAL_OPTIONS], help="evaluate retrieval quality on test sets")
    kinds = p.add_subparsers(dest="eval", required=True, metavar="KIND")
    b = kinds.add_parser(
        "beir",
        parents=[GLOBAL_OPTIONS],
        help="nDCG@10, recall@100, MRR@10 and p50 latency per search configuration",
        description="Store the corpus once (cached), run each configuration over the queries with qrels, "
        "write JSON and a bar plot, print a markdown table.",
    )
    b.add_argument(
        "--data", type=Path, required=True, help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/) or SQuAD .json"
    )
    b.add_argument("--out", type=Path, help="result JSON (default benchmarks/results/beir-<folder name>.json)")
    b.add_argument(
        "--configs",
        help="comma-separated configurations (default all: dense, bm25, hybrid, hybrid-convex, hybrid+hyde, "
        "hybrid+rerank, hybrid+maxsim, full)",
    )
    b.add_argument("--sample", type=int, help="evaluate a seeded (seed 0) sample of N queries")
    b.add_argument("--split", default="test", help="qrels split of a BEIR folder (default test)")
    b.add_argument("--store", type=Path, help="store directory (default a cache under benchmarks/results/cache/)")
    b.set_defaults(func=cmd_beir)


def cmd_beir(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from benchmarks.beir import load
    from benchmarks.retrieval_eval import configs, markdown_table, run
    from rag.cli import settings_from

    names = [n.strip() for n in args.configs.split(",") if n.strip()] if args.configs else None
    configs(names)  # unknown names fail before the corpus is read or stored
    dataset = load(args.data, args.split)
    out = args.out or Path("benchmarks/results") / f"beir-{dataset.name}.json"
    with tqdm(desc="ingest", unit="doc", file=sys.stderr, disable=not sys.stderr.isatty()) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        report = run(settings_from(args), dataset, names, out, args.store, args.sample, progress)
    print(markdown_table(report))
    print(f"\nresults: {out}, plot: {out.with_suffix('.png')}")
    return 0
