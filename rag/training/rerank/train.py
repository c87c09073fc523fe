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

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

from rag.rerank.cross_encoder import CrossEncoder, file_sha256, save_weights
from rag.training.common import log_to_stderr, minilm_base_model, runtime_description, seed_everything, training_parser
from rag.training.rerank.data import DATA_FILES, TRAIN_QRELS, Corpus, TrainSet, load_corpus, load_train_set
from rag.training.rerank.evaluate import RerankCase, first_stage_metrics
from rag.training.rerank.fit import FitResult, fit, fmt_metrics
from rag.training.rerank.mining import Rankings, default_cache_dir, fuse, mining_description, rankings
from rag.training.rerank.recipe import GroupSampler, Recipe

log = logging.getLogger("rag.training.rerank")


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
    p = _prepare(data, recipe, seed, cache_dir or default_cache_dir())
    model = CrossEncoder()  # after seeding: the head's initialisation is seeded too
    result = fit(
        model, p.sampler, p.corpus.texts, p.cases, p.texts, recipe, deadline=deadline, seed=seed, max_steps=max_steps
    )
    meta = _metadata(data, recipe, p, result, seed=seed, max_minutes=max_minutes)
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


@dataclass(frozen=True)
class _Prepared:
    """What training reads: the corpus, the split claims, the training groups and the validation cases."""

    corpus: Corpus
    texts: dict[str, str]  # doc id -> passage text
    train_set: TrainSet
    val_set: TrainSet
    sampler: GroupSampler
    cases: list[RerankCase]
    baseline: dict  # the first stage's validation metrics


def _prepare(data: Path, recipe: Recipe, seed: int, cache_dir: Path) -> _Prepared:
    """Read SciFact train, hold out the validation claims, mine both first stages (cached embeddings)."""
    corpus = load_corpus(data)
    train_set, val_set = load_train_set(data).split(recipe.val_fraction, seed)
    log.info(
        "%d train claims (%d pairs), %d validation claims",
        len(train_set.queries),
        len(train_set.pairs()),
        len(val_set.queries),
    )
    queries = [*train_set.queries.values(), *val_set.queries.values()]
    ranked = rankings(corpus.texts, queries, file_sha256(data / "corpus.jsonl"), cache_dir)
    n = len(train_set.queries)
    train_ranked = replace(ranked, bm25=ranked.bm25[:n], dense=ranked.dense[:n])
    position = {d: i for i, d in enumerate(corpus.doc_ids)}
    sampler = GroupSampler(train_set, train_ranked, position, len(corpus), recipe)
    cases = _validation_cases(corpus, val_set, replace(ranked, bm25=ranked.bm25[n:], dense=ranked.dense[n:]), recipe)
    baseline = first_stage_metrics(cases)
    log.info("validation first stage (RRF of BM25 and dense): %s", fmt_metrics(baseline))
    texts = dict(zip(corpus.doc_ids, corpus.texts))
    return _Prepared(corpus, texts, train_set, val_set, sampler, cases, baseline)


def _validation_cases(corpus: Corpus, val_set: TrainSet, ranked: Rankings, recipe: Recipe) -> list[RerankCase]:
    """Each validation claim with the top ``val_candidates`` of RRF(BM25, dense) (``ranked``: their rows)."""
    return [
        RerankCase(
            text,
            [corpus.doc_ids[i] for i in fuse(ranked.bm25[r], ranked.dense[r], recipe.val_candidates)],
            frozenset(val_set.qrels[qid]),
        )
        for r, (qid, text) in enumerate(val_set.queries.items())
    ]


def _metadata(
    data: Path, recipe: Recipe, prepared: _Prepared, result: FitResult, *, seed: int, max_minutes: float
) -> dict:
    """The weights' JSON: the model, its base, the recipe, the data's hashes, the run and its validation."""
    return {
        "model": "minilm-scifact cross-encoder: all-MiniLM-L6-v2 reads (query, passage) in one pass; "
        "score = Linear(384, 1)(normalize(query-token mean) * normalize(passage-token mean)), head initialised to 20",
        "base_model": minilm_base_model(),
        "recipe": recipe.describe(),
        "data": {
            "files": {name: file_sha256(data / name) for name in DATA_FILES},
            "qrels_used": [str(TRAIN_QRELS)],
            "train_claims": len(prepared.train_set.queries),
            "train_pairs": len(prepared.sampler),
            "validation_claims": sorted(prepared.val_set.queries, key=int),
        },
        "mining": mining_description(),
        "seed": seed,
        "max_minutes": max_minutes,
        "steps": result.steps,
        "best_step": result.best.get("step"),
        "train_seconds": round(result.train_s, 1),
        "epochs": round(result.steps / result.steps_per_epoch, 3),
        "steps_per_epoch": result.steps_per_epoch,
        "wall_time_s": None,  # set when the run is over (the key keeps its place)
        **runtime_description(),
        "validation": {
            "metric": f"rerank top-{recipe.val_candidates} of RRF(BM25, dense) on held-out train claims",
            "best": result.best,
            "first_stage": prepared.baseline,
            "history": result.history,
        },
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = training_parser(
        "python -m rag.training.rerank",
        __doc__.split("\n")[0],
        data_help="BEIR SciFact folder",
        out_help="weights path stem, e.g. rag/rerank/weights/x",
        max_minutes=35.0,
        folder=("--cache", "cache folder for corpus embeddings"),
    )
    args = parser.parse_args(argv)
    log_to_stderr()
    train(
        args.data,
        args.out,
        max_minutes=args.max_minutes,
        seed=args.seed,
        cache_dir=args.cache,
        max_steps=args.max_steps,
    )
    return 0
