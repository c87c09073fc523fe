"""The reader's training loop: chunks of the seeded order, one optimizer step per batch, a checkpoint per chunk.

Kept apart from :mod:`rag.training.reader.train` (data, metadata, command line). A run
stopped anywhere continues from its checkpoint: the weights, the optimizer, the
schedule (:class:`~rag.training.progress.Progress`) and :class:`RunState`.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from rag.reader.data import QAExample
from rag.reader.evaluate import evaluate_examples
from rag.reader.model import SpanReader
from rag.reader.windows import Window, collate
from rag.training.progress import Progress
from rag.training.reader.recipe import Recipe, batches_of

log = logging.getLogger("rag.training.reader")
CHECKPOINT_FILE = "reader-checkpoint.pt"  # under --checkpoint
FIRST_EVAL_S = 30.0  # a validation pass's seconds, assumed until the first one is timed


@dataclass
class RunState:
    """Where a run stands; saved in its checkpoint (as a dict under ``state``) so that the same command goes on."""

    chunk: int = 0  # chunks of the training order done
    step: int = 0  # optimizer steps done
    best: dict = field(default_factory=dict)  # the best validation entry so far
    history: list[dict] = field(default_factory=list)  # every validation entry
    best_state: dict | None = None  # the trainable weights of ``best``
    wall_s: float = 0.0  # wall-clock seconds of the earlier invocations

    def record(self, scores: dict, model: SpanReader) -> None:
        """Add a validation entry; keep the weights when it is the best so far."""
        self.history.append(scores)
        if scores["score"] > self.best.get("score", -1.0):
            self.best, self.best_state = scores, model.trainable_state()


@dataclass
class Run:
    """The moving parts of one invocation: the model, its optimizer, the schedule and the clock."""

    model: SpanReader
    params: list[torch.nn.Parameter]  # the trainable ones (word embeddings frozen)
    opt: torch.optim.Optimizer
    progress: Progress
    recipe: Recipe
    steps_cap: int
    valid: list[QAExample]
    started: float  # time.monotonic() when this invocation began
    deadline: float = float("inf")  # time.monotonic() by which training stops; set once the checkpoint is read
    eval_s: float = FIRST_EVAL_S  # seconds of one validation pass, measured at each pass

    @classmethod
    def start(cls, recipe: Recipe, steps_cap: int, valid: list[QAExample], started: float) -> Run:
        """A fresh reader (its word embeddings frozen), AdamW over the rest and the schedule of ``steps_cap`` steps."""
        model = SpanReader()
        model.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
        return cls(model, params, opt, Progress(steps_cap, recipe), recipe, steps_cap, valid, started)


def fit(
    recipe: Recipe,
    valid: list[QAExample],
    groups: dict[str, list[QAExample]],
    order: list[tuple[str, int]],
    *,
    seed: int,
    steps_cap: int,
    deadline_s: float,
    checkpoint_file: Path | None,
    started: float,
) -> tuple[Run, RunState]:
    """Train a fresh reader, or go on from ``checkpoint_file``; it ends holding the best validated weights.

    Args:
        recipe: hyper-parameters.
        valid: the validation questions.
        groups, order: the examples by group and the seeded order of (group, index) draws.
        seed: seeds the windows drawn from each chunk.
        steps_cap: optimizer steps after which training stops.
        deadline_s: wall-clock seconds the whole run may take, earlier invocations included.
        checkpoint_file: where the run is saved after each chunk (None: nowhere).
        started: ``time.monotonic()`` when this invocation began.

    Returns:
        The run (its model in eval mode with the best weights loaded) and where it stands.
    """
    run = Run.start(recipe, steps_cap, valid, started)
    state = _resume(checkpoint_file, run)
    run.deadline = started + deadline_s - state.wall_s
    _train_chunks(run, state, groups, order, seed, checkpoint_file)
    _finish(run, state)
    return run, state


def _resume(ckpt_file: Path | None, run: Run) -> RunState:
    """The state saved in ``ckpt_file`` (weights, optimizer and schedule put back into ``run``), else a fresh one."""
    if not (ckpt_file and ckpt_file.is_file()):
        return RunState()
    saved = torch.load(ckpt_file, weights_only=False)
    run.model.load_state_dict(saved["model"])
    run.opt.load_state_dict(saved["opt"])
    run.progress.train_s, run.progress.evals_done = saved["train_s"], saved["evals_done"]
    state = RunState(**saved["state"])
    log.info("resumed at step %d (chunk %d, %.1f min trained)", state.step, state.chunk, run.progress.train_s / 60)
    return state


def _train_chunks(run: Run, state: RunState, groups: dict, order: list, seed: int, ckpt_file: Path | None) -> None:
    """Train chunk after chunk until the steps, the time or the order run out; a checkpoint after each chunk."""
    run.model.train()
    while state.step < run.steps_cap and time.monotonic() < run.deadline:
        batches = _chunk_batches(run.model.tokenizer, groups, order, state.chunk, run.recipe, seed)
        if batches is None:
            break
        _train_chunk(run, state, batches)
        state.chunk += 1
        if ckpt_file:
            _save_checkpoint(ckpt_file, run, state, state.wall_s + time.monotonic() - run.started)
        if run.progress.fraction(state.step) >= 1.0:
            break


def _chunk_batches(tokenizer, groups: dict, order: list, index: int, recipe: Recipe, seed: int) -> list | None:
    """The labelled batches of chunk ``index`` of the order (seeded by the chunk), None past its end."""
    size = recipe.chunk_batches * recipe.batch_size
    lo = index * size
    if lo >= len(order):
        return None
    rng = random.Random(seed * 1_000_003 + index)
    return batches_of(tokenizer, [groups[g][i] for g, i in order[lo : lo + size]], recipe, rng)


def _train_chunk(run: Run, state: RunState, batches: list) -> None:
    """One optimizer step per batch, validating when progress says so; stops early at the cap, deadline or end."""
    progress = run.progress
    for batch in batches:
        progress.plan(run.deadline - time.monotonic(), run.eval_s)
        t = time.monotonic()
        loss = _step(run, batch, state.step)
        state.step += 1
        progress.train_s += time.monotonic() - t
        if state.step % 20 == 0:
            lr = run.opt.param_groups[0]["lr"]
            log.info(
                "step %d loss %.3f lr %.2e progress %.3f", state.step, loss.item(), lr, progress.fraction(state.step)
            )
        if progress.eval_due(state.step):
            _validate_now(run, state)
        if state.step >= run.steps_cap or time.monotonic() >= run.deadline or progress.fraction(state.step) >= 1.0:
            break


def _step(run: Run, batch: list[tuple[Window, int, int]], step: int) -> torch.Tensor:
    """One optimizer step on ``batch`` (``step`` steps done before it); returns the loss."""
    for g in run.opt.param_groups:
        g["lr"] = run.recipe.lr * run.progress.lr_factor(step)
    inputs = collate([w for w, _, _ in batch])
    starts = torch.tensor([i for _, i, _ in batch])
    ends = torch.tensor([j for _, _, j in batch])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        s, e = run.model(**inputs)
    loss = (torch.nn.functional.cross_entropy(s, starts) + torch.nn.functional.cross_entropy(e, ends)) / 2
    loss.backward()
    torch.nn.utils.clip_grad_norm_(run.params, run.recipe.max_grad_norm)
    run.opt.step()
    run.opt.zero_grad(set_to_none=True)
    return loss


def _validate_now(run: Run, state: RunState) -> None:
    """A scheduled validation pass: recorded, timed (the schedule plans with its time) and counted."""
    te = time.monotonic()
    scores = _validate(run.model, run.valid, state.step)
    run.eval_s = time.monotonic() - te
    run.progress.evals_done += 1
    state.record(scores, run.model)
    log.info("validation %s (%.0f s)", scores, run.eval_s)


def _finish(run: Run, state: RunState) -> None:
    """Validate the final weights unless the last pass saw them, then load the best ones, in eval mode."""
    if not state.history or state.history[-1]["step"] != state.step:
        state.record(_validate(run.model, run.valid, state.step), run.model)
    run.model.load_trainable_state(state.best_state)
    run.model.eval()


def _validate(model: SpanReader, valid: list[QAExample], step: int) -> dict:
    model.eval()
    scores = evaluate_examples(model, valid)
    model.train()
    return {"step": step, **scores, "score": round((scores["f1"] + scores["null_balanced_accuracy"]) / 2, 4)}


def _save_checkpoint(path: Path, run: Run, state: RunState, wall_s: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "model": run.model.state_dict(),
            "opt": run.opt.state_dict(),
            "train_s": run.progress.train_s,
            "evals_done": run.progress.evals_done,
            "state": dict(vars(state), wall_s=wall_s),
        },
        tmp,
    )
    tmp.replace(path)
