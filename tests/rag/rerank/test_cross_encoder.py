"""The trained cross-encoder: the shipped weights, and save -> load giving the same scores."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rag.rerank.cross_encoder import FROZEN_KEYS, WEIGHTS_DIR, load_model, score_pairs

SHIPPED = WEIGHTS_DIR / "minilm-scifact"


def test_the_shipped_weights_are_there_small_and_trained_on_train_qrels_only():
    weights, meta_path = SHIPPED.with_suffix(".safetensors"), SHIPPED.with_suffix(".json")
    assert weights.is_file() and meta_path.is_file(), "run `python -m rag.rerank.train` (see rag/rerank/train.py)"
    assert weights.stat().st_size <= 50 * 1024 * 1024
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    assert meta["data"]["qrels_used"] == ["qrels/train.tsv"]
    assert set(meta["data"]["files"]) == {"queries.jsonl", "qrels/train.tsv", "corpus.jsonl"}
    assert not any("test" in name for name in meta["data"]["files"])
    for field in ("base_model", "recipe", "seed", "steps", "wall_time_s", "torch", "validation"):
        assert field in meta
    assert meta["validation"]["best"]["ndcg@10"] > meta["validation"]["first_stage"]["ndcg@10"]


def test_the_shipped_reranker_orders_the_crafted_example(shipped_reranker, crafted):
    query, passages = crafted
    scores = shipped_reranker.score(query, passages)
    assert scores.dtype == np.float32 and scores.shape == (3,)
    assert np.argsort(-scores).tolist() == [2, 1, 0]
    assert shipped_reranker.score(query, []).shape == (0,)


def test_scores_do_not_depend_on_batch_size(shipped_reranker, crafted):
    query, passages = crafted
    together = score_pairs(shipped_reranker.model, [query] * 3, passages, batch_size=3)
    apart = score_pairs(shipped_reranker.model, [query] * 3, passages, batch_size=1)
    np.testing.assert_allclose(together, apart, atol=1e-4)


@pytest.mark.slow
def test_saved_weights_load_to_the_same_scores(fake_scifact, tmp_path, crafted):
    from safetensors import safe_open

    from rag.rerank.data import load_corpus
    from rag.rerank.recipe import Recipe
    from rag.rerank.train import train

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

    query, passages = crafted
    passages = passages + load_corpus(fake_scifact).texts
    before = score_pairs(model, [query] * len(passages), passages, batch_size=32)
    after = score_pairs(load_model(out), [query] * len(passages), passages, batch_size=32)
    np.testing.assert_allclose(after, before, atol=2e-3 + 2e-3 * np.abs(before).max())
    assert np.argsort(-after).tolist() == np.argsort(-before).tolist()
