"""Choosing the BM25 engine: our native index beside the ``bm25s`` package, on a BEIR corpus.

Both get the same terms (our analyzer: NFKC, casefold, Lucene's English stop
words, Snowball stems) and the same k1 and b, so what differs is the engine:
indexing time, query latency (one query per call, as the query path calls it),
and, as a check that they compute the same thing, nDCG@10 of whole documents
(title + text) on the set's queries. The native index scores with Lucene's
classic (k1 + 1) numerator, bm25s without it: the rankings are the same.

    .venv/bin/python -m benchmarks.lexical --data ../shared/data/scifact --out benchmarks/results/lexical.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from indexes.lexical import BM25Index
from ingest.lexical import Analyzer
from rag.bench.metrics import percentiles
from rag.eval.beir import load
from rag.metrics import ndcg_at

K1, B = 0.9, 0.4


def _time_queries(search, queries: list[list[str]], repeats: int = 3) -> list[float]:
    search(queries[0])  # warm-up (numba compiles on the first call)
    seconds = []
    for _ in range(repeats):
        for q in queries:
            t0 = time.perf_counter()
            search(q)
            seconds.append(time.perf_counter() - t0)
    return seconds


def run(data: Path, split: str = "test") -> dict:
    dataset = load(data, split)
    analyzer = Analyzer()
    doc_ids = [d.id for d in dataset.corpus]
    t0 = time.perf_counter()
    docs = analyzer.terms_batch([f"{d.title} {d.text}" for d in dataset.corpus])
    analyze_s = time.perf_counter() - t0
    qids = list(dataset.queries)
    queries = analyzer.terms_batch([dataset.queries[q] for q in qids])
    report = {"dataset": dataset.name, "split": split, "docs": len(docs), "queries": len(qids), "analyze_s": analyze_s}

    def ndcg(rank_ids) -> float:
        return float(np.mean([ndcg_at(rank_ids(q), dataset.qrels[qid], 10) for qid, q in zip(qids, queries)]))

    t0 = time.perf_counter()
    native = BM25Index(k1=K1, b=B)
    native.add(docs, np.arange(len(docs), dtype=np.int64))
    build = time.perf_counter() - t0

    def native_top(q):
        return native.search([q], 10).ids[0]

    report["native"] = {
        "build_s": round(build, 3),
        "query": percentiles(_time_queries(native_top, queries)),
        "ndcg@10": round(ndcg(lambda q: [doc_ids[i] for i in native_top(q) if i >= 0]), 4),
    }
    try:
        import bm25s
    except ImportError:
        report["bm25s"] = "not installed (pip install bm25s)"
        return report
    t0 = time.perf_counter()
    reference = bm25s.BM25(k1=K1, b=B, method="lucene")
    reference.index(docs, show_progress=False)
    build = time.perf_counter() - t0

    def bm25s_top(q):
        ids, _ = reference.retrieve([q], k=10, show_progress=False, n_threads=1)
        return ids[0]

    report["bm25s"] = {
        "version": bm25s.__version__,
        "build_s": round(build, 3),
        "query": percentiles(_time_queries(bm25s_top, queries)),
        "ndcg@10": round(ndcg(lambda q: [doc_ids[i] for i in bm25s_top(q)]), 4),
    }
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("../shared/data/scifact"))
    p.add_argument("--split", default="test")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    report = run(args.data, args.split)
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
