"""The training schedule: progress in steps or in time, the learning rate and the validation passes that follow it."""

from __future__ import annotations

import pytest

from rag.training.progress import Progress
from rag.training.rerank.recipe import Recipe


def test_progress_follows_steps_or_time_whichever_is_further():
    progress = Progress(max_steps=100, recipe=Recipe(warmup_fraction=0.1, evals=2))
    assert progress.fraction(50) == 0.5  # no time budget yet: steps alone
    progress.plan(seconds_left=100.0, eval_s=10.0)  # two passes still to come: 80 s of training
    assert progress.budget_s == 80.0
    progress.train_s = 40.0
    assert progress.fraction(10) == 0.5 and progress.eval_due(10)
    progress.evals_done = 1
    assert not progress.eval_due(10)
    progress.train_s = 80.0
    assert progress.fraction(10) == 1.0 and progress.eval_due(10)


def test_learning_rate_warms_up_then_decays_to_zero():
    progress = Progress(max_steps=100, recipe=Recipe(warmup_fraction=0.1))
    factors = [progress.lr_factor(s) for s in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a <= b for a, b in zip(factors[:10], factors[1:10]))
    assert all(a >= b for a, b in zip(factors[10:], factors[11:]))
    assert factors[-1] == 0.0
