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
from rag.training.rerank.recipe import GroupSampler, Recipe

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
    t0 = time.monotonic()
    for name, p in model.named_parameters():
        p.requires_grad_(name not in FROZEN_KEYS)  # the word embeddings stay the packaged ones
    head = [p for n, p in model.named_parameters() if n.startswith("head.")]
    body = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("head.")]
    optimizer = torch.optim.AdamW(
        [{"params": body, "lr": recipe.lr}, {"params": head, "lr": recipe.head_lr}], weight_decay=recipe.weight_decay
    )
    base_lrs = [recipe.lr, recipe.head_lr]
    steps_per_epoch = -(-len(sampler) // recipe.groups_per_step)
    progress = Progress(min(recipe.epochs * steps_per_epoch, max_steps or 1 << 30), recipe)
    rng = np.random.default_rng(seed)
    n_val_pairs = sum(len(c.candidates) for c in cases)
    eval_s = 0.0  # seconds of one validation pass: estimated after calibration, then measured
    history: list[dict] = []
    best: dict = {"ndcg@10": -1.0}
    best_state: dict[str, torch.Tensor] = {}
    losses: list[float] = []
    step = 0

    def validate() -> None:
        nonlocal eval_s
        t = time.monotonic()
        model.eval()
        metrics = rerank_metrics(lambda q, p: score_pairs(model, q, p, BATCH_SIZE), cases, texts)
        model.train()
        eval_s = time.monotonic() - t
        progress.evals_done += 1
        progress.plan(deadline - time.monotonic() - SAVE_MARGIN_S, eval_s)
        entry = {"step": step, "epoch": round(step / steps_per_epoch, 3), **metrics, "seconds": round(eval_s, 1)}
        history.append(entry)
        log.info("validation at step %d: %s (%.0f s)", step, fmt_metrics(metrics), eval_s)
        if metrics["ndcg@10"] > best["ndcg@10"]:
            best.clear()
            best.update(entry)
            best_state.clear()
            best_state.update({k: v.detach().clone() for k, v in model.state_dict().items() if k not in FROZEN_KEYS})

    model.train()
    finished = False
    while not finished:
        epoch_groups = sampler.epoch(rng)
        for start in range(0, len(epoch_groups), recipe.groups_per_step):
            t = time.monotonic()
            chunk = epoch_groups[start : start + recipe.groups_per_step]
            for group, base_lr in zip(optimizer.param_groups, base_lrs):
                group["lr"] = base_lr * progress.lr_factor(step)
            queries = [g.query for g in chunk for _ in g.positions]
            passages = [corpus_texts[i] for g in chunk for i in g.positions]
            scores = model(model.encode_pairs(queries, passages))  # (sum of group sizes,)
            targets = torch.zeros(1, dtype=torch.long)  # the positive comes first in every group
            loss = torch.stack(
                [
                    torch.nn.functional.cross_entropy(s[None], targets)
                    for s in torch.split(scores, [len(g.positions) for g in chunk])
                ]
            ).mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_([*body, *head], recipe.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            losses.append(loss.item())
            now = time.monotonic()
            progress.train_s += now - t
            per_step = progress.train_s / step
            if step == CALIBRATION_STEPS:
                eval_s = n_val_pairs * per_step / (recipe.groups_per_step * (1 + recipe.negatives)) * INFER_TO_TRAIN
                progress.plan(deadline - now - SAVE_MARGIN_S, eval_s)
                log.info(
                    "%.2f s/step: about %d steps (%.2f epochs of %d) fit, %d validation passes of ~%.0f s",
                    per_step,
                    step + (progress.budget_s - progress.train_s) / per_step,
                    (step + (progress.budget_s - progress.train_s) / per_step) / steps_per_epoch,
                    steps_per_epoch,
                    recipe.evals,
                    eval_s,
                )
            if step % 10 == 0:
                log.info(
                    "step %d epoch %.2f progress %.3f loss %.4f lr %.2e %.2f s/step, %.1f min since training began",
                    step,
                    step / steps_per_epoch,
                    progress.fraction(step),
                    float(np.mean(losses[-10:])),
                    optimizer.param_groups[0]["lr"],
                    per_step,
                    (now - t0) / 60,
                )
            out_of_time = now + eval_s + SAVE_MARGIN_S + per_step > deadline
            if out_of_time and progress.fraction(step) < 1.0:
                log.warning("time budget reached at step %d: stopping", step)
            finished = out_of_time or progress.fraction(step) >= 1.0
            if finished or progress.eval_due(step):
                validate()  # the last pass always sees the final weights
            if finished:
                break

    model.load_state_dict(best_state, strict=False)
    model.eval()
    return FitResult(step, progress.train_s, steps_per_epoch, best, history)
