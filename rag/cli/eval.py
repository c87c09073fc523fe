"""``rag eval beir`` (retrieval quality per search configuration), ``rag eval qa`` (answers per mode) and
``rag eval retro`` (the RETRO retrofit: perplexity with and without neighbours, answers retro vs prompt)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rag.cli import GLOBAL_OPTIONS


def register(sub) -> None:
    p = sub.add_parser("eval", parents=[GLOBAL_OPTIONS], help="evaluate retrieval quality on test sets")
    kinds = p.add_subparsers(dest="eval", required=True, metavar="KIND")
    _register_beir(kinds)
    _register_qa(kinds)
    _register_retro(kinds)


def _register_beir(kinds) -> None:
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


def _register_qa(kinds) -> None:
    q = kinds.add_parser(
        "qa",
        parents=[GLOBAL_OPTIONS],
        help="answer quality: EM, F1, citation precision, support rate and abstention per answer mode",
        description="Store the set's contexts once (cached), ask a seeded sample of questions in each answer "
        "mode, write JSON (and JSON lines per answer), print a markdown table.",
    )
    q.add_argument(
        "--data",
        type=Path,
        required=True,
        help="SQuAD-format or HotpotQA JSON file, or its folder; or a COVID-QA folder (documents/, questions.jsonl)",
    )
    q.add_argument("--out", type=Path, help="result JSON (default benchmarks/results/qa-<set>.json)")
    q.add_argument(
        "--configs",
        default="reader,auto",
        help="comma-separated configurations: reader, passages, focus, extract, auto, retro (default reader,auto: "
        "the default mode beside the generating one; reader alone never loads the generator)",
    )
    q.add_argument("--sample", type=int, default=60, help="questions asked (seed 0; half unanswerable on SQuAD 2.0)")
    q.add_argument(
        "--part",
        choices=("calibrate", "report"),
        help="SQuAD 2.0: first (calibrate) or second (report) half of the articles",
    )
    q.add_argument("-k", type=int, default=5, help="passages per question")
    q.add_argument(
        "--questions",
        type=Path,
        help="questions (JSON lines: id, doc, question, answers) about a --data folder of documents/, "
        "e.g. benchmarks/questions/vite-docs.jsonl with ../shared/data/vite-docs",
    )
    q.set_defaults(func=cmd_qa)


def _register_retro(kinds) -> None:
    r = kinds.add_parser(
        "retro",
        parents=[GLOBAL_OPTIONS],
        help="the RETRO retrofit: perplexity with retrieved / random / no neighbours, and answers retro vs prompt",
        description="Perplexity (and bits per byte) of held-out sequences with retrieved, random and no neighbours "
        "(deduplicated and not, and with a leaky database); then EM/F1 of context retro against the prompt "
        "contexts on a QA sample. Writes JSON with ppl_none, ppl_retrieved, ppl_random and the QA table.",
    )
    r.add_argument("--data", type=Path, default=Path("../shared/data/scifact"), help="BEIR folder of the training text")
    r.add_argument("--weights", type=Path, help="retrofit weights stem (default: the packaged rag/retro/weights)")
    r.add_argument("--out", type=Path, default=Path("benchmarks/results/retro-eval-summary.json"), help="result JSON")
    r.add_argument("--sample", type=int, default=200, help="held-out sequences (seed 0)")
    r.add_argument("--qa", type=Path, help="SQuAD-format QA file or folder for the answer table (skipped when absent)")
    r.add_argument("--qa-sample", type=int, default=40, help="questions asked per context")
    r.set_defaults(func=cmd_retro)


def cmd_beir(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from rag.cli import settings_from
    from rag.eval.beir import load
    from rag.eval.retrieval import configs, markdown_table, run

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


def cmd_retro(args: argparse.Namespace) -> int:
    from rag.cli import settings_from
    from rag.eval.retro import markdown_tables, run
    from rag.retro import DEFAULT_WEIGHTS

    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    weights = args.weights or DEFAULT_WEIGHTS
    report = run(settings_from(args), args.data, weights, args.out, args.sample, args.qa, args.qa_sample, log)
    print(markdown_tables(report))
    print(f"\nresults: {args.out}")
    return 0


def cmd_qa(args: argparse.Namespace) -> int:
    from rag.cli import settings_from
    from rag.eval.qa import markdown_table, run

    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    stem = args.data.stem if args.data.is_file() else args.data.name
    out = args.out or Path("benchmarks/results") / f"qa-{stem}{'-' + args.part if args.part else ''}.json"
    report = run(settings_from(args), args.data, names, args.sample, out, args.part, args.k, questions=args.questions)
    print(markdown_table(report))
    for c in report["configs"]:
        cal = c.get("calibrated")
        if cal is None:
            continue
        print(f"{c['name']}: calibrated abstention threshold {cal}")
        if cal.get("scale") is not None:
            print(
                f"  rag/pipeline/reading.py: READER_THRESHOLD = {cal['threshold']}  READER_SCALE = {cal['scale']}"
                f"  (balanced accuracy {cal['balanced_accuracy']:.3f} on {c['questions']} questions)"
            )
    print(f"\nresults: {out}")
    return 0
