"""The training loop of the cross-encoder: listwise loss over groups, validation, best checkpoint.

Kept apart from :mod:`rag.training.rerank.train` (data, metadata, command line) so that
each reads on its own. See :class:`~rag.training.progress.Progress` for how the
time budget drives the learning rate and the validation passes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from rag.rerank.cross_encoder import BATCH_SIZE, FROZEN_KEYS, CrossEncoder, score_pairs
from rag.training.progress import Progress
from rag.training.rerank.evaluate import RerankCase, rerank_metrics
from rag.training.rerank.recipe import Group, GroupSampler, Recipe

log = logging.getLogger("rag.training.rerank")

CALIBRATION_STEPS = 3  # steps timed before the validation passes are first estimated
SAVE_MARGIN_S = 45.0  # kept free at the end for saving the weights
INFER_TO_TRAIN = 0.2  # an inference pair costs about this fraction of a training pair (measured: ~0.17)


@dataclass
class FitResult:
    """What a training run did: steps, seconds in training steps, and the validation passes."""

    steps: int
    train_s: float
    steps_per_epoch: int
    best: dict  # the validation entry of the checkpoint kept: step, epoch, metrics, seconds
    history: list[dict] = field(default_factory=list)


def fmt_metrics(metrics: dict) -> str:
    """``ndcg@10 0.7000, mrr@10 ...`` for the log."""
    return ", ".join(f"{k} {metrics[k]:.4f}" for k in ("ndcg@10", "mrr@10", "candidate_recall") if k in metrics)


def fit(
    model: CrossEncoder,
    sampler: GroupSampler,
    corpus_texts: Sequence[str],
    cases: Sequence[RerankCase],
    texts: dict[str, str],
    recipe: Recipe,
    *,
    deadline: float,
    seed: int,
    max_steps: int | None = None,
) -> FitResult:
    """Train ``model`` in place until progress reaches 1; it ends holding the best validated weights.

    Args:
        model: the cross-encoder to train (its word embeddings are frozen here).
        sampler: draws the training groups (positions into ``corpus_texts``).
        corpus_texts: passage texts by corpus position.
        cases: held-out claims with their candidates, for validation.
        texts: doc id -> passage text, for validation.
        recipe: hyper-parameters.
        deadline: ``time.monotonic()`` by which training and validation must be over.
        seed: seeds the order of the groups and their negatives.
        max_steps: cap on optimizer steps.

    Returns:
        Steps, time and the validation history; ``model`` is in eval mode.
    """
    run = _Run.start(model, recipe, len(sampler), deadline, max_steps)
    rng = np.random.default_rng(seed)
    n_val_pairs = sum(len(c.candidates) for c in cases)
    model.train()
    finished = False
    while not finished:
        epoch_groups = sampler.epoch(rng)
        for start in range(0, len(epoch_groups), recipe.groups_per_step):
            finished = _train_step(run, epoch_groups[start : start + recipe.groups_per_step], corpus_texts, n_val_pairs)
            if finished or run.progress.eval_due(run.step):
                _validate(run, cases, texts)  # the last pass always sees the final weights
            if finished:
                break
    model.load_state_dict(run.best_state, strict=False)
    model.eval()
    return FitResult(run.step, run.progress.train_s, run.steps_per_epoch, run.best, run.history)


@dataclass
class _Run:
    """The moving parts of a run (model, optimizer, schedule, clock) and what it has recorded so far."""

    model: CrossEncoder
    optimizer: torch.optim.Optimizer
    params: list[torch.nn.Parameter]  # the trainable ones, body then head (the order gradients are clipped in)
    base_lrs: list[float]  # of the optimizer's groups, body then head
    progress: Progress
    recipe: Recipe
    steps_per_epoch: int
    deadline: float
    started: float  # time.monotonic() when training began
    step: int = 0
    eval_s: float = 0.0  # seconds of one validation pass: estimated after calibration, then measured
    losses: list[float] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)
    best: dict = field(default_factory=lambda: {"ndcg@10": -1.0})
    best_state: dict[str, torch.Tensor] = field(default_factory=dict)

    @classmethod
    def start(cls, model: CrossEncoder, recipe: Recipe, n_groups: int, deadline: float, max_steps: int | None) -> _Run:
        """Freeze the word embeddings, give the head its own learning rate, plan the steps."""
        started = time.monotonic()
        for name, p in model.named_parameters():
            p.requires_grad_(name not in FROZEN_KEYS)  # the word embeddings stay the packaged ones
        head = [p for n, p in model.named_parameters() if n.startswith("head.")]
        body = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("head.")]
        optimizer = torch.optim.AdamW(
            [{"params": body, "lr": recipe.lr}, {"params": head, "lr": recipe.head_lr}],
            weight_decay=recipe.weight_decay,
        )
        steps_per_epoch = -(-n_groups // recipe.groups_per_step)
        progress = Progress(min(recipe.epochs * steps_per_epoch, max_steps or 1 << 30), recipe)
        base_lrs = [recipe.lr, recipe.head_lr]
        return cls(model, optimizer, [*body, *head], base_lrs, progress, recipe, steps_per_epoch, deadline, started)


def _train_step(run: _Run, chunk: list[Group], corpus_texts: Sequence[str], n_val_pairs: int) -> bool:
    """One optimizer step on ``chunk``, then the schedule's bookkeeping; whether training is finished."""
    t = time.monotonic()
    loss = _step(run, chunk, corpus_texts)
    run.step += 1
    run.losses.append(loss)
    now = time.monotonic()
    run.progress.train_s += now - t
    per_step = run.progress.train_s / run.step
    if run.step == CALIBRATION_STEPS:
        _calibrate(run, per_step, n_val_pairs, now)
    if run.step % 10 == 0:
        _log_step(run, per_step, now)
    out_of_time = now + run.eval_s + SAVE_MARGIN_S + per_step > run.deadline
    if out_of_time and run.progress.fraction(run.step) < 1.0:
        log.warning("time budget reached at step %d: stopping", run.step)
    return out_of_time or run.progress.fraction(run.step) >= 1.0


def _step(run: _Run, chunk: list[Group], corpus_texts: Sequence[str]) -> float:
    """One optimizer step of the listwise loss over ``chunk``'s groups; returns the loss."""
    for group, base_lr in zip(run.optimizer.param_groups, run.base_lrs):
        group["lr"] = base_lr * run.progress.lr_factor(run.step)
    queries = [g.query for g in chunk for _ in g.positions]
    passages = [corpus_texts[i] for g in chunk for i in g.positions]
    scores = run.model(run.model.encode_pairs(queries, passages))  # (sum of group sizes,)
    targets = torch.zeros(1, dtype=torch.long)  # the positive comes first in every group
    loss = torch.stack(
        [
            torch.nn.functional.cross_entropy(s[None], targets)
            for s in torch.split(scores, [len(g.positions) for g in chunk])
        ]
    ).mean()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(run.params, run.recipe.max_grad_norm)
    run.optimizer.step()
    run.optimizer.zero_grad(set_to_none=True)
    return loss.item()


def _calibrate(run: _Run, per_step: float, n_val_pairs: int, now: float) -> None:
    """Estimate a validation pass from the steps timed so far and plan the time left with it."""
    recipe, progress = run.recipe, run.progress
    run.eval_s = n_val_pairs * per_step / (recipe.groups_per_step * (1 + recipe.negatives)) * INFER_TO_TRAIN
    progress.plan(run.deadline - now - SAVE_MARGIN_S, run.eval_s)
    fit_steps = run.step + (progress.budget_s - progress.train_s) / per_step
    log.info(
        "%.2f s/step: about %d steps (%.2f epochs of %d) fit, %d validation passes of ~%.0f s",
        per_step,
        fit_steps,
        fit_steps / run.steps_per_epoch,
        run.steps_per_epoch,
        recipe.evals,
        run.eval_s,
    )


def _log_step(run: _Run, per_step: float, now: float) -> None:
    log.info(
        "step %d epoch %.2f progress %.3f loss %.4f lr %.2e %.2f s/step, %.1f min since training began",
        run.step,
        run.step / run.steps_per_epoch,
        run.progress.fraction(run.step),
        float(np.mean(run.losses[-10:])),
        run.optimizer.param_groups[0]["lr"],
        per_step,
        (now - run.started) / 60,
    )


def _validate(run: _Run, cases: Sequence[RerankCase], texts: dict[str, str]) -> None:
    """A validation pass: timed (the schedule plans with its time), recorded, its weights kept when best."""
    model, step = run.model, run.step
    t = time.monotonic()
    model.eval()
    metrics = rerank_metrics(lambda q, p: score_pairs(model, q, p, BATCH_SIZE), cases, texts)
    model.train()
    run.eval_s = time.monotonic() - t
    run.progress.evals_done += 1
    run.progress.plan(run.deadline - time.monotonic() - SAVE_MARGIN_S, run.eval_s)
    entry = {"step": step, "epoch": round(step / run.steps_per_epoch, 3), **metrics, "seconds": round(run.eval_s, 1)}
    run.history.append(entry)
    log.info("validation at step %d: %s (%.0f s)", step, fmt_metrics(metrics), run.eval_s)
    if metrics["ndcg@10"] > run.best["ndcg@10"]:
        run.best = entry
        run.best_state = {k: v.detach().clone() for k, v in model.state_dict().items() if k not in FROZEN_KEYS}
