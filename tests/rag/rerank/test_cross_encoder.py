"""The trained cross-encoder: the shipped weights and their scores (training: tests/rag/training/rerank)."""

from __future__ import annotations

import json

import numpy as np

from rag.rerank.cross_encoder import WEIGHTS_DIR, score_pairs

SHIPPED = WEIGHTS_DIR / "minilm-scifact"


def test_the_shipped_weights_are_there_small_and_trained_on_train_qrels_only():
    weights, meta_path = SHIPPED.with_suffix(".safetensors"), SHIPPED.with_suffix(".json")
    assert weights.is_file() and meta_path.is_file(), "run `python -m rag.training.rerank`"
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
