"""Passage embedding speed and quality: the fast embedder kind against fp32, on BEIR SciFact.

The texts are whole SciFact abstracts (``title\\n\\ntext``, as ``rag.bench.datasets``
embeds them; the model truncates at 256 tokens, and most abstracts reach it), not
200-token chunks. The corpus is cut into slices; each slice is embedded by fp32
and by the fast kind in turn (the first of the two alternating), on ``--threads``
intra-op threads, so a change in the machine's load hits both kinds alike: the
speed ratio is the median of the per-slice ratios, and texts/s is each kind's total.

Quality, from the same vectors: nDCG@10 of dense retrieval (whole documents ranked
by dot product; a document whose id equals the query's is not counted, as BEIR's
evaluator does) on the split's queries for both kinds, and the cosine of every fast
vector to its fp32 twin (documents and queries). The gate: nDCG@10 within 0.002
of fp32's and a minimum cosine above 0.999.

The report names the CPU's native bf16 feature (``amx``, ``avx512_bf16`` or ``none``,
``ingest.embed.native_bf16``) and the kind ``auto`` picks for it. ``--isa AVX2`` caps
oneDNN, MKL and ATen at AVX2 for the run (set before torch starts), to measure what an
AVX2-only CPU would get from each kind on this one.

    .venv/bin/python -m benchmarks.embed_speed                     # full corpus, ~10 min on 2 cores
    .venv/bin/python -m benchmarks.embed_speed --docs 512 --out /tmp/embed-speed.json   # a quick look
    .venv/bin/python -m benchmarks.embed_speed --docs 256 --fast bf16 --isa AVX2 --out /tmp/avx2.json
    farm-bench -n 5 --timeout 1200 --vs '.venv/bin/python -m benchmarks.embed_speed --docs 256 --only fp32' \
        -- .venv/bin/python -m benchmarks.embed_speed --docs 256 --only bf16   # whole processes, in turn
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from rag.bench.ann import machine
from rag.eval.beir import load
from rag.metrics import ndcg_at

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact"
OUT = Path(__file__).resolve().parent / "results" / "embed-speed-summary.json"
NDCG_TOLERANCE = 0.002
COSINE_MIN_TARGET = 0.999
# --isa NAME: the environment that caps oneDNN (bf16 and fp32 matmuls), MKL (fp32 GEMM) and ATen's own kernels
ISA_CAPS = {"AVX2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}}


def dense_ndcg(docs: np.ndarray, doc_ids: list[str], queries: np.ndarray, dataset) -> float:
    scores = queries @ docs.T
    values = []
    for row, qid in enumerate(dataset.queries):
        top = np.argsort(-scores[row], kind="stable")[:11]
        ranked = [doc_ids[i] for i in top if doc_ids[i] != qid][:10]
        values.append(ndcg_at(ranked, dataset.qrels[qid], 10))
    return float(np.mean(values))


def cosine_stats(fast: np.ndarray, ref: np.ndarray) -> dict:
    cos = (fast * ref).sum(1) / (np.linalg.norm(fast, axis=1) * np.linalg.norm(ref, axis=1))
    stats = {"mean": cos.mean(), "min": cos.min(), "p01": np.quantile(cos, 0.01)}
    return {name: round(float(value), 6) for name, value in stats.items()}


def embed_once(embedder, texts: list[str]) -> dict:
    """``--only``: one kind embeds ``texts`` once (model loading not timed); prints and returns its rate."""
    t0 = time.perf_counter()
    embedder.embed(texts)
    seconds = time.perf_counter() - t0
    report = {"kind": embedder.kind, "texts": len(texts), "seconds": round(seconds, 3)}
    print(json.dumps({**report, "texts_per_s": round(len(texts) / seconds, 2)}))
    return report


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="a BEIR folder (default: ../shared/data/scifact)")
    parser.add_argument("--split", default="test", help="qrels split for nDCG@10 (default test)")
    parser.add_argument("--docs", type=int, default=None, help="embed only the first N documents (quick look)")
    parser.add_argument("--fast", default="auto", help="the kind set against fp32 (default auto: see --isa)")
    parser.add_argument("--isa", choices=sorted(ISA_CAPS), default=None, help="cap the instruction set (see above)")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads (default 2)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--slice", type=int, default=256, help="documents per timed slice (default 256)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--only", default=None, help="embed with this kind only, print texts/s, write nothing")
    args = parser.parse_args(argv)

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.update(ISA_CAPS.get(args.isa, {}))  # before torch is imported: the libraries read it once
    import torch

    from ingest.embed import AUTO_KIND, Embedder, _background, native_bf16

    torch.set_num_threads(args.threads)
    _background().submit(torch.set_num_threads, args.threads).result()  # the passage thread's own setting

    dataset = load(args.data, args.split)
    corpus = dataset.corpus[: args.docs] if args.docs else dataset.corpus
    texts = [f"{d.title}\n\n{d.text}" for d in corpus]
    doc_ids = [d.id for d in corpus]
    if args.only:
        return embed_once(Embedder(args.batch_size, quant=args.only), texts)
    kinds = {"fp32": Embedder(args.batch_size, quant="fp32"), "fast": Embedder(args.batch_size, quant=args.fast)}
    for emb in kinds.values():
        emb.embed(texts[:8])  # warm-up
    vectors = {k: np.empty((len(texts), 384), np.float32) for k in kinds}
    seconds = {k: 0.0 for k in kinds}
    ratios = []
    for n, start in enumerate(range(0, len(texts), args.slice)):
        part = texts[start : start + args.slice]
        took = {}
        for k in list(kinds)[:: 1 if n % 2 == 0 else -1]:
            t0 = time.perf_counter()
            vectors[k][start : start + len(part)] = kinds[k].embed(part)
            took[k] = time.perf_counter() - t0
            seconds[k] += took[k]
        ratios.append(took["fp32"] / took["fast"])
        print(
            f"{start + len(part)}/{len(texts)} docs: fp32 {len(part) / took['fp32']:.1f}/s, "
            f"{kinds['fast'].kind} {len(part) / took['fast']:.1f}/s, x{ratios[-1]:.2f}",
            flush=True,
        )

    query_texts = list(dataset.queries.values())
    queries = {k: emb.embed_queries(query_texts) for k, emb in kinds.items()}
    ndcg = {k: dense_ndcg(vectors[k], doc_ids, queries[k], dataset) for k in kinds}
    doc_cos, query_cos = cosine_stats(vectors["fast"], vectors["fp32"]), cosine_stats(queries["fast"], queries["fp32"])
    fast = kinds["fast"]
    report = {
        "machine": {**machine(), "native_bf16": native_bf16(), "isa_cap": args.isa, "torch": torch.__version__},
        "auto_kind": AUTO_KIND[native_bf16()],
        "texts": "SciFact abstracts, title + text (truncated at 256 tokens)",
        "docs": len(texts),
        "queries": len(query_texts),
        "split": args.split,
        "threads": args.threads,
        "batch_size": args.batch_size,
        "fast_kind": fast.kind,
        "fast_model_name": fast.model_name,
        "texts_per_s": {k if k == "fp32" else fast.kind: round(len(texts) / s, 2) for k, s in seconds.items()},
        "speed_ratio": {
            "median_of_slices": round(float(np.median(ratios)), 3),
            "total": round(seconds["fp32"] / seconds["fast"], 3),
            "slices": [round(r, 3) for r in ratios],
        },
        "ndcg@10": {
            "fp32": round(ndcg["fp32"], 4),
            fast.kind: round(ndcg["fast"], 4),
            "delta": round(ndcg["fast"] - ndcg["fp32"], 4),
        },
        "cosine_to_fp32": {"docs": doc_cos, "queries": query_cos},
        "gate": {
            "ndcg_within": NDCG_TOLERANCE,
            "ndcg_ok": abs(ndcg["fast"] - ndcg["fp32"]) <= NDCG_TOLERANCE,
            "cosine_min_target": COSINE_MIN_TARGET,
            "cosine_ok": doc_cos["min"] > COSINE_MIN_TARGET and query_cos["min"] > COSINE_MIN_TARGET,
        },
    }
    if args.docs:
        report["note"] = f"only the first {args.docs} documents: nDCG@10 here is not the full-corpus figure"
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: report[k] for k in ("texts_per_s", "ndcg@10", "cosine_to_fp32", "gate")}, indent=2))
    print(f"speed ratio (median of slices): x{report['speed_ratio']['median_of_slices']}; wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
