"""Train the span reader on the extractive QA training mix and save the shipped weights.

The data, the metadata and the command line (see :mod:`rag.training.reader` for the run as a whole);
the loop is :mod:`rag.training.reader.fit`.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from rag.reader.data import VALIDATION_FILE, data_description, load_groups, training_order
from rag.reader.model import SpanReader, save_weights
from rag.training.common import log_to_stderr, minilm_base_model, runtime_description, seed_everything, training_parser
from rag.training.reader.fit import CHECKPOINT_FILE, Run, RunState, fit
from rag.training.reader.recipe import VALIDATION_NEGATIVES, Recipe, validation_set

log = logging.getLogger("rag.training.reader")


def train(
    data: Path,
    out: Path,
    *,
    max_minutes: float = 85.0,
    seed: int = 0,
    checkpoint: Path | None = None,
    max_steps: int | None = None,
    recipe: Recipe | None = None,
) -> tuple[SpanReader, dict]:
    """Train (or continue from ``checkpoint``), save the best checkpoint under ``out``; returns it and its metadata."""
    t0 = time.monotonic()
    recipe = recipe or Recipe()
    seed_everything(seed)
    groups = load_groups(data)
    valid = validation_set(data)
    steps_cap = min(recipe.max_steps, max_steps or recipe.max_steps)
    # the order depends on the recipe and the seed only, so a resumed run (any --max-steps) reads on where it stopped
    order = training_order(groups, recipe.mix, recipe.max_steps * recipe.batch_size, seed)
    sizes = {g: len(v) for g, v in groups.items()}
    log.info("groups: %s; %d draws planned; %d validation questions", sizes, len(order), len(valid))
    ckpt_file = checkpoint / CHECKPOINT_FILE if checkpoint else None
    run, state = fit(
        recipe,
        valid,
        groups,
        order,
        seed=seed,
        steps_cap=steps_cap,
        deadline_s=max_minutes * 60.0,
        checkpoint_file=ckpt_file,
        started=t0,
    )
    wall = state.wall_s + time.monotonic() - t0
    meta = _metadata(run, state, data, groups, seed=seed, max_minutes=max_minutes, wall_s=wall)
    weights = save_weights(run.model, out, meta)
    log.info(
        "saved %s (%.1f MB), best %s; %.1f min in all", weights, weights.stat().st_size / 1e6, state.best, wall / 60
    )
    return run.model, meta


def _metadata(
    run: Run, state: RunState, data: Path, groups: dict, *, seed: int, max_minutes: float, wall_s: float
) -> dict:
    """The weights' JSON: the model, its base, the recipe, the data's hashes, the run and its validation."""
    return {
        "model": "minilm-squad span reader: all-MiniLM-L6-v2 reads [CLS] question [SEP] passage window [SEP]; "
        "Linear(384, 2) gives start and end logits per token; the null span is [CLS]",
        "base_model": minilm_base_model(),
        "recipe": run.recipe.describe(),
        "data": {
            "folder": "../shared/data/qa-train",
            "files": data_description(data),
            "groups": {g: len(v) for g, v in groups.items()},
            "validation": f"{VALIDATION_FILE} (all) + first {VALIDATION_NEGATIVES[1]} of {VALIDATION_NEGATIVES[0]}",
        },
        "seed": seed,
        "max_minutes": max_minutes,
        "steps": state.step,
        "windows_trained": state.step * run.recipe.batch_size,
        "best_step": state.best.get("step"),
        "train_seconds": round(run.progress.train_s, 1),
        "wall_time_s": round(wall_s, 1),
        **runtime_description(),
        "validation": {"best": state.best, "history": state.history},
    }


def main(argv: list[str] | None = None) -> int:
    parser = training_parser(
        "python -m rag.training.reader",
        __doc__.split("\n")[0],
        data_help="the qa-train folder",
        out_help="weights path stem, e.g. rag/reader/weights/x",
        max_minutes=85.0,
        folder=("--checkpoint", "folder of the resumable checkpoint"),
    )
    args = parser.parse_args(argv)
    log_to_stderr()
    train(
        args.data,
        args.out,
        max_minutes=args.max_minutes,
        seed=args.seed,
        checkpoint=args.checkpoint,
        max_steps=args.max_steps,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
