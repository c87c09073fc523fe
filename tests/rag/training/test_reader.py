"""The reader's training script on a tiny slice: it runs, saves, and resumes from its checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rag.reader.data import TRAIN_FILES, VALIDATION_FILE
from rag.reader.model import load_model
from rag.training.reader import Recipe, train

pytestmark = pytest.mark.slow


def _tiny_squad(path, n, impossible=False):
    paragraphs = []
    for i in range(n):
        context = f"Item {i} was made in the town of Velmar{i} by a smith called Oskar{i}."
        qa = {"id": f"{path.stem}-{i}", "question": f"Who made item {i}?", "is_impossible": impossible}
        qa["answers"] = [] if impossible else [{"text": f"Oskar{i}", "answer_start": context.index(f"Oskar{i}")}]
        paragraphs.append({"context": context, "qas": [qa]})
    path.write_text(json.dumps({"version": "v2.0", "data": [{"title": path.stem, "paragraphs": paragraphs}]}))


def test_the_training_script_runs_and_resumes_on_a_tiny_slice(tmp_path):
    data = tmp_path / "qa-train"
    data.mkdir()
    for group, files in TRAIN_FILES.items():
        for name in files:
            _tiny_squad(data / name, 12, impossible=group == "negatives")
    _tiny_squad(data / VALIDATION_FILE, 6)
    _tiny_squad(data / "squad11-train-negatives-b1.json", 6, impossible=True)
    recipe = Recipe(batch_size=4, chunk_batches=1, evals=1)
    out, ckpt = tmp_path / "w" / "tiny", tmp_path / "ckpt"
    torch.set_num_threads(2)
    _, meta = train(data, out, max_minutes=5, seed=1, checkpoint=ckpt, max_steps=3, recipe=recipe)
    assert meta["steps"] == 3 and (ckpt / "reader-checkpoint.pt").is_file()
    assert set(meta["data"]["files"]) >= {VALIDATION_FILE, *TRAIN_FILES["squad"]}
    assert meta["validation"]["best"]["answerable"] == 6
    _, resumed = train(data, out, max_minutes=5, seed=1, checkpoint=ckpt, max_steps=5, recipe=recipe)
    assert resumed["steps"] == 5  # continued from step 3, not from 0
    loaded = load_model(out)
    assert np.isfinite(loaded.head.weight.detach().numpy()).all()
