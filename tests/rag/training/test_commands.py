"""The training commands run as ``python -m rag.training.<name>`` and keep the arguments they had before the move."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

COMMANDS = {
    "rerank": ("--data", "--out", "--max-minutes", "--seed", "--cache", "--max-steps"),
    "reader": ("--data", "--out", "--max-minutes", "--seed", "--checkpoint", "--max-steps"),
    "retro": (
        "--data",
        "--out",
        "--minutes",
        "--max-steps",
        "--layers",
        "--chunk",
        "--encoder-base-layers",
        "--continuation-fraction",
        "--lr",
        "--gate-lr",
        "--value-shift",
        "--init",
    ),
}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_training_command_answers_help_with_its_arguments(name):
    done = subprocess.run(
        [sys.executable, "-m", f"rag.training.{name}", "--help"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: python -m rag.training.{name} ")
    for option in COMMANDS[name]:
        assert f" {option}" in done.stdout, f"{option} missing from rag.training.{name}"
