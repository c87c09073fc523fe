"""The RETRO retrofit's training run on a tiny corpus: it steps, validates, and saves weights that load back."""

from __future__ import annotations

import json

import pytest
import torch

from rag.model.retro import RetroConfig, Retrofit
from rag.retro.recipe import Recipe
from rag.training.retro import train

pytestmark = pytest.mark.slow

TOPICS = ("river", "forest", "harbour", "mountain", "library", "market", "orchard", "station")


def _tiny_corpus(root, n=24):
    """``n`` BEIR documents of a few hundred tokens each, so every one holds several 128-token windows."""
    root.mkdir()
    with (root / "corpus.jsonl").open("w", encoding="utf-8") as f:
        for i in range(n):
            topic = TOPICS[i % len(TOPICS)]
            text = " ".join(
                f"The {topic} of town {i} was described in record {j}: it held {j + i} boats, {2 * j} carts "
                f"and a keeper named Ada{i}x{j} who wrote about the {topic} every spring."
                for j in range(8)
            )
            f.write(json.dumps({"_id": str(1000 + i), "title": f"The {topic} of town {i}", "text": text}) + "\n")


def test_the_training_run_steps_validates_and_saves(tmp_path, monkeypatch):
    data = tmp_path / "beir"
    _tiny_corpus(data)
    monkeypatch.chdir(tmp_path)  # the database cache is relative to the working directory
    torch.set_num_threads(2)
    config = RetroConfig(layers=(6,))
    recipe = Recipe(batch=2, max_steps=3, warmup_steps=2, validation_sequences=4, calibration_sequences=2)
    lines = []
    out = tmp_path / "w" / "retro-tiny"
    meta = train(data, out, config, recipe, log=lines.append)
    assert meta["steps"] == 3 and meta["sequences_seen"] == 6
    assert [p["step"] for p in meta["loss_curve"]] == [3]  # a point every 10 steps and at the last
    assert set(meta["validation"]) == {"retrieved", "random", "continuation", "none"}
    assert "init" not in meta  # only the "match" initialisation reports
    assert any(line.startswith("step 3/3 loss ") for line in lines)
    saved = json.loads(out.with_suffix(".json").read_text())
    assert saved["steps"] == 3 and saved["recipe"] == recipe.describe()
    loaded = Retrofit.load(out)
    assert loaded.config == config and set(loaded.gates()) == {6}
