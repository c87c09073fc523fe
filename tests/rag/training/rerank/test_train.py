"""A short training run of the cross-encoder: what it saves, and save -> load giving the same scores."""

from __future__ import annotations

import numpy as np
import pytest
from safetensors import safe_open

from rag.rerank.cross_encoder import FROZEN_KEYS, load_model, score_pairs
from rag.training.rerank.data import load_corpus
from rag.training.rerank.recipe import Recipe
from rag.training.rerank.train import train
from tests.rag.rerank.conftest import PASSAGES, QUERY


@pytest.mark.slow
def test_saved_weights_load_to_the_same_scores(fake_scifact, tmp_path):
    recipe = Recipe(groups_per_step=2, negatives=3, val_fraction=0.25, val_candidates=10, evals=1)
    out = tmp_path / "weights" / "tiny"
    model, meta = train(
        fake_scifact, out, max_minutes=10, seed=0, cache_dir=tmp_path / "cache", max_steps=3, recipe=recipe
    )
    assert meta["steps"] == 3 and meta["data"]["qrels_used"] == ["qrels/train.tsv"]
    with safe_open(str(out.with_suffix(".safetensors")), "pt") as f:
        keys = set(f.keys())
        assert not keys & set(FROZEN_KEYS) and "head.weight" in keys
        assert all(str(f.get_slice(k).get_dtype()) == "F16" for k in keys)

    query, passages = QUERY, PASSAGES + load_corpus(fake_scifact).texts
    before = score_pairs(model, [query] * len(passages), passages, batch_size=32)
    after = score_pairs(load_model(out), [query] * len(passages), passages, batch_size=32)
    np.testing.assert_allclose(after, before, atol=2e-3 + 2e-3 * np.abs(before).max())
    assert np.argsort(-after).tolist() == np.argsort(-before).tolist()
