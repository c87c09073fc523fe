"""The retrofit's training recipe; every field goes into the weights' metadata."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from core.errors import ConfigError


@dataclass(frozen=True)
class Recipe:
    """Hyper-parameters of one training run (the shape itself is :class:`rag.model.retro.RetroConfig`).

    The base decoder is frozen (fp32 in training, the same weights as the int4 file
    dequantized); only the neighbour encoder and the CCA modules train, with AdamW.
    """

    seq_len: int = 128  # tokens per training sequence: 4 chunks of 32
    batch: int = 4  # sequences per step
    lr: float = 1e-3  # encoder and CCA weights: linear warm-up, then cosine decay to 10%
    gate_lr: float = 1e-2  # the gates start at zero; Adam moves them about lr per step
    weight_decay: float = 0.01
    warmup_steps: int = 30
    max_steps: int = 1200  # upper bound; the time budget usually ends training first
    minutes: float = 30.0  # wall-clock budget of the optimisation steps
    max_grad_norm: float = 1.0
    train_scope: str = "document"  # training neighbours: see rag.retro.data.NeighbourSearch (evaluation: clean)
    # Training chunks whose first neighbour is the sequence's own continuation (rag.retro.data.with_continuations):
    # the overlap RETRO meets in its own training set, given on purpose so the CCA learns to read neighbours by
    # their content. Never in validation or evaluation, whose neighbours are clean.
    # The shipped weights (run 8 of benchmarks/README.md) used 0; runs 5-7 tried 0.5 and 1.0, run 9 0.25.
    continuation_fraction: float = 0.0
    held_out_fraction: float = 0.1  # documents kept for evaluation only (see rag.retro.data)
    # "random": PyTorch's initialisation (runs 1-7); "match": rag.model.retro.init.match_init, each CCA module
    # started as an induction head over its neighbours (needs value_shift >= 1 and encoder_base_layers 0)
    init: str = "random"
    init_sequences: int = 64  # training windows the match initialisation fits its queries on
    init_nats: float = 8.0  # how far the match initialisation raises a copied token's logit at full gate
    calibration_sequences: int = 16  # training windows whose mean residual stream centres the CCA inputs
    validation_sequences: int = 48  # training-document windows never trained on: the end-of-run check
    seed: int = 0

    def __post_init__(self) -> None:
        if self.init not in ("random", "match"):
            raise ConfigError(f"unknown retro init {self.init!r}; use 'random' or 'match'")

    def describe(self) -> dict:
        return dict(asdict(self), loss="next-token cross-entropy of the frozen decoder with CCA, all positions")
