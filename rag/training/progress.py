"""Training progress in steps or in time, whichever is further: the schedule of the reranker and the reader.

Both train on a shared machine within a wall-clock budget; :class:`Progress` drives their
learning rate and their validation passes.
"""

from __future__ import annotations

from typing import Protocol


class Schedule(Protocol):
    """The fields of a training recipe that :class:`Progress` reads."""

    @property
    def warmup_fraction(self) -> float: ...  # of the planned progress, spent warming the learning rate up

    @property
    def evals(self) -> int: ...  # validation passes, at even steps of progress


class Progress:
    """How far training has got, in [0, 1]: the larger of its share of steps and of training time.

    The learning rate follows progress (linear warm-up, then linear decay to 0
    at 1), and so do the validation passes (at 1/evals, 2/evals, ..., 1). Time
    counts as well as steps because the machine is shared: how fast a step
    runs changes while training runs, and a schedule in steps fixed from the
    first minutes would either stop early or overrun the budget.

    Args:
        max_steps: steps that make progress 1 by themselves (epochs cap or --max-steps).
        recipe: supplies ``warmup_fraction`` and ``evals`` (the reranker's and the reader's recipes both do).
    """

    def __init__(self, max_steps: int, recipe: Schedule) -> None:
        self.max_steps = max(1, max_steps)
        self.warmup = recipe.warmup_fraction
        self.evals = recipe.evals
        self.train_s = 0.0  # seconds spent in training steps (validation excluded)
        self.budget_s = float("inf")  # training seconds that make progress 1; set by plan()
        self.evals_done = 0

    def fraction(self, step: int) -> float:
        """Progress after ``step`` optimizer steps and ``train_s`` seconds."""
        return min(1.0, max(step / self.max_steps, self.train_s / self.budget_s))

    def lr_factor(self, step: int) -> float:
        """Multiplier of the base learning rates for the step about to run (``step`` done so far)."""
        p = max(self.fraction(step), (step + 1) / self.max_steps)
        return min(1.0, p / self.warmup) if p < self.warmup else max(0.0, (1.0 - p) / (1.0 - self.warmup))

    def plan(self, seconds_left: float, eval_s: float) -> None:
        """Give training the time left after the validation passes still to come (``eval_s`` each)."""
        self.budget_s = self.train_s + max(0.0, seconds_left - (self.evals - self.evals_done) * eval_s)

    def eval_due(self, step: int) -> bool:
        """Whether progress has reached the next validation point (the last one is at 1)."""
        return self.evals_done < self.evals and self.fraction(step) >= (self.evals_done + 1) / self.evals - 1e-9
