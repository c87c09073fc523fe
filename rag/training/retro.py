"""Train the RETRO retrofit on the CPU: ``python -m rag.training.retro --data ../shared/data/scifact``.

The database (:mod:`rag.retro.data`) is built once and cached (:func:`rag.retro.batches.load_database`).
The base decoder loads frozen in fp32, and each step runs a batch of sequences with their chunks' neighbours
(never from the sequence's own document) through the decoder with the CCA modules
attached. Only the encoder and the CCA parameters step. The loss is logged. The weights
(fp16 safetensors, a few MB) are saved with the recipe, the configuration, the data
hashes and the loss curve in their JSON.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rag.model.retro import RetroConfig, Retrofit
from rag.retro import DEFAULT_WEIGHTS as WEIGHTS
from rag.retro.batches import batch_of, load_database, token_losses
from rag.retro.data import Database, NeighbourSearch, with_continuations
from rag.retro.recipe import Recipe


def sequence_loss(model, retrofit: Retrofit, tokens: torch.Tensor, fixed) -> torch.Tensor:
    """Mean next-token cross-entropy over the batch (what training minimises)."""
    return token_losses(model, retrofit, tokens, fixed).mean()


def train(data: Path, out: Path, config: RetroConfig, recipe: Recipe, log=print) -> dict:
    """Train the retrofit on ``data`` and save it under ``out``; returns the metadata written beside it."""
    torch.manual_seed(recipe.seed)
    db = load_database(data, config, recipe)
    seqs = _sequences(db, config, recipe, log)
    model, retrofit, init_report = _retrofitted_model(db, seqs, config, recipe, log)
    run = _Run(model, retrofit, db, seqs, config, recipe)
    steps, curve, started = _optimise(run, log)
    retrofit.eval()
    validation = validate(model, retrofit, db, seqs.val_starts, seqs.val_ids, seqs.search, config, recipe)
    log(f"validation loss: {validation}")
    meta = _metadata(run, steps, curve, validation, started)
    if init_report is not None:
        meta["init"] = init_report
    retrofit.save(out, meta)
    return meta


@dataclass(frozen=True)
class _Sequences:
    """Training and validation windows (token offsets into the database) and their chunks' neighbours."""

    train_starts: np.ndarray
    train_ids: np.ndarray  # neighbours of the training windows (scope ``recipe.train_scope``, with continuations)
    val_starts: np.ndarray
    val_ids: np.ndarray  # clean neighbours, as in evaluation
    search: NeighbourSearch


@dataclass(frozen=True)
class _Run:
    """What every optimisation step reads: the frozen decoder with the retrofit attached, its data and settings."""

    model: torch.nn.Module
    retrofit: Retrofit
    db: Database
    seqs: _Sequences
    config: RetroConfig
    recipe: Recipe


def _sequences(db: Database, config: RetroConfig, recipe: Recipe, log) -> _Sequences:
    """The seeded windows of the training documents: the first ``validation_sequences`` validate, the rest train."""
    rng = np.random.default_rng(recipe.seed)
    starts = db.sequences(recipe.seq_len, held=False)
    rng.shuffle(starts)
    val_starts = starts[: recipe.validation_sequences]
    train_starts = starts[recipe.validation_sequences :][: recipe.max_steps * recipe.batch]
    search = NeighbourSearch(db)
    k, r = config.neighbours, config.neighbour_len
    t0 = time.perf_counter()
    train_ids = search(train_starts, recipe.seq_len, k, r, scope=recipe.train_scope)
    train_ids = with_continuations(db, train_starts, train_ids, recipe.continuation_fraction, recipe.seed)
    val_ids = search(val_starts, recipe.seq_len, k, r)  # validation: clean neighbours, as in evaluation
    log(f"neighbours of {len(train_starts) + len(val_starts)} sequences in {time.perf_counter() - t0:.1f} s")
    return _Sequences(train_starts, train_ids, val_starts, val_ids, search)


def _retrofitted_model(db: Database, seqs: _Sequences, config: RetroConfig, recipe: Recipe, log):
    """The frozen fp32 decoder with a new retrofit attached, calibrated and (``init`` "match") initialised.

    Returns:
        (decoder, retrofit, the match initialisation's report or None).
    """
    from rag.model import load_gguf

    model, _ = load_gguf(quant="fp32")
    for p in model.parameters():
        p.requires_grad_(False)
    retrofit = Retrofit(config, model.config.dim)
    retrofit.attach(model)
    calibration = seqs.train_starts[-recipe.calibration_sequences :]  # the last sequences, seen last if at all
    ids = seqs.train_ids[-len(calibration) :]
    retrofit.calibrate(model, batch_of(db, calibration, ids, config, recipe)[0])
    if recipe.init != "match":
        return model, retrofit, None
    from rag.model.retro.init import match_init

    fit = seqs.train_starts[-recipe.init_sequences :]
    t0 = time.perf_counter()
    windows = batch_of(db, fit, seqs.train_ids[-len(fit) :], config, recipe)[0]
    init_report = match_init(retrofit, model, windows, nats=recipe.init_nats)
    log(f"match initialisation in {time.perf_counter() - t0:.0f} s: {init_report}")
    return model, retrofit, init_report


def _optimizer(retrofit: Retrofit, recipe: Recipe) -> torch.optim.AdamW:
    """AdamW over the encoder and CCA weights, the gates in their own group (own learning rate, no decay)."""
    gates = [m.gate for m in retrofit.cca.values()]
    others = [p for n, p in retrofit.named_parameters() if not n.endswith(".gate")]
    return torch.optim.AdamW(
        [{"params": others, "lr": recipe.lr}, {"params": gates, "lr": recipe.gate_lr, "weight_decay": 0.0}],
        weight_decay=recipe.weight_decay,
    )


def _lr_scale(step: int, planned: int, recipe: Recipe) -> float:
    """Linear warm-up over ``warmup_steps``, then cosine decay to 10% at ``planned``."""
    scale = min(1.0, (step + 1) / recipe.warmup_steps)
    return scale * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / planned)))


def _optimise(run: _Run, log) -> tuple[int, list[dict], float]:
    """Step until the planned steps or the time budget run out; returns (steps, loss curve, start time)."""
    recipe = run.recipe
    opt = _optimizer(run.retrofit, recipe)
    base_lrs = [g["lr"] for g in opt.param_groups]
    planned = min(recipe.max_steps, len(run.seqs.train_starts) // recipe.batch)
    curve, window, step = [], [], 0
    budget_end = time.perf_counter() + recipe.minutes * 60
    started = time.perf_counter()
    run.retrofit.train()
    while step < planned and time.perf_counter() < budget_end:
        scale = _lr_scale(step, planned, recipe)
        for g, lr in zip(opt.param_groups, base_lrs):
            g["lr"] = lr * scale
        window.append(_step(run, opt, step))
        step += 1
        if step % 10 == 0 or step == planned:
            curve.append(_curve_point(run.retrofit, step, window, started))
            window = []
            point = curve[-1]
            log(
                f"step {step}/{planned} loss {point['loss']:.4f} gate {point['gate_mean']:+.3f} {point['seconds']:.0f}s"
            )
    return step, curve, started


def _step(run: _Run, opt: torch.optim.Optimizer, step: int) -> float:
    """One optimizer step on the training batch ``step``; returns its loss."""
    batch = run.recipe.batch
    sl = slice(step * batch, (step + 1) * batch)
    tokens, fixed = batch_of(run.db, run.seqs.train_starts[sl], run.seqs.train_ids[sl], run.config, run.recipe)
    loss = sequence_loss(run.model, run.retrofit, tokens, fixed)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(run.retrofit.parameters(), run.recipe.max_grad_norm)
    opt.step()
    return float(loss.detach())


def _curve_point(retrofit: Retrofit, step: int, window: list[float], started: float) -> dict:
    """A point of the loss curve: the mean loss since the last point, the time and the gates' mean."""
    return {
        "step": step,
        "loss": round(float(np.mean(window)), 4),
        "seconds": round(time.perf_counter() - started, 1),
        "gate_mean": round(float(np.mean(list(retrofit.gates().values()))), 4),
    }


def _metadata(run: _Run, steps: int, curve: list[dict], validation: dict, started: float) -> dict:
    """The weights' JSON: format, recipe, the run, the base model's and the data's hashes, curve and validation."""
    from rag.model.gguf_file import default_gguf_path
    from rag.rerank.cross_encoder import file_sha256

    base = Path(default_gguf_path())
    return {
        "format": "localrag-retro",
        "version": 1,
        "recipe": run.recipe.describe(),
        "steps": steps,
        "train_seconds": round(time.perf_counter() - started, 1),
        "sequences_seen": steps * run.recipe.batch,
        "base_model": {"file": base.name, "sha256": file_sha256(base)},
        "data": dict(run.db.meta, trained_on="training documents only (held-out documents never seen)"),
        "loss_curve": curve,
        "validation": validation,
        "gates": run.retrofit.gates(),
    }


def validate(model, retrofit, db, starts, ids, search, config, recipe) -> dict:
    """Mean loss of the validation windows with retrieved, random and no neighbours, and with each chunk's first
    neighbour replaced by the text to predict ("continuation": an upper bound that shows whether the CCA
    reads its neighbours' content at all)."""
    rand = search.random(len(starts), ids.shape[1], config.neighbours, recipe.seed + 1)
    cont = with_continuations(db, starts, ids, 1.0, recipe.seed)
    out = {}
    with torch.no_grad():
        for name, chosen in (("retrieved", ids), ("random", rand), ("continuation", cont), ("none", None)):
            losses = []
            for i in range(0, len(starts), recipe.batch):
                sl = slice(i, i + recipe.batch)
                tokens, fixed = batch_of(db, starts[sl], (ids if chosen is None else chosen)[sl], config, recipe)
                losses.append(float(sequence_loss(model, retrofit, tokens, None if chosen is None else fixed)))
            out[name] = round(float(np.mean(losses)), 4)
    return out


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    config, recipe = _settings(args)
    meta = train(args.data, args.out, config, recipe, log=lambda s: print(s, file=sys.stderr, flush=True))
    print(f"saved {args.out}.safetensors after {meta['steps']} steps; validation {meta['validation']}")
    return 0


def _settings(args: argparse.Namespace) -> tuple[RetroConfig, Recipe]:
    """The retrofit's shape and the training recipe the command line asks for (defaults elsewhere)."""
    layers = tuple(int(x) for x in args.layers.split(",")) if args.layers else RetroConfig.layers
    config = RetroConfig(
        chunk=args.chunk,
        neighbour_len=2 * args.chunk,
        layers=layers,
        encoder_base_layers=args.encoder_base_layers,
        value_shift=args.value_shift,
    )
    recipe = Recipe(
        minutes=args.minutes,
        max_steps=args.max_steps,
        continuation_fraction=args.continuation_fraction,
        lr=args.lr,
        gate_lr=args.gate_lr,
        init=args.init,
    )
    return config, recipe


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m rag.training.retro", description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True, help="BEIR folder with corpus.jsonl (training text)")
    p.add_argument("--out", type=Path, default=WEIGHTS, help="weights stem (.safetensors and .json are added)")
    p.add_argument("--minutes", type=float, default=Recipe.minutes, help="time budget of the optimisation steps")
    p.add_argument("--max-steps", type=int, default=Recipe.max_steps)
    p.add_argument("--layers", help="comma-separated CCA layers (default 6,9,...,27)")
    p.add_argument("--chunk", type=int, default=RetroConfig.chunk)
    p.add_argument(
        "--encoder-base-layers",
        type=int,
        default=RetroConfig.encoder_base_layers,
        help="frozen decoder layers under the neighbour encoder (0: the shared token embeddings, as in RETRO)",
    )
    p.add_argument(
        "--continuation-fraction",
        type=float,
        default=Recipe.continuation_fraction,
        help="training chunks whose first neighbour is the sequence's own continuation",
    )
    p.add_argument("--lr", type=float, default=Recipe.lr, help="learning rate of the encoder and CCA weights")
    p.add_argument("--gate-lr", type=float, default=Recipe.gate_lr, help="learning rate of the gates")
    p.add_argument(
        "--value-shift",
        type=int,
        default=RetroConfig.value_shift,
        help="the value read at a neighbour's token j is the encoder state at j + s (1: read the token after a match)",
    )
    p.add_argument(
        "--init",
        choices=("random", "match"),
        default=Recipe.init,
        help="match: start each CCA module as an induction head (needs --value-shift 1 --encoder-base-layers 0)",
    )
    return p


if __name__ == "__main__":
    raise SystemExit(main())
