"""The zero-shot MaxSim reranker."""

from __future__ import annotations

import numpy as np


def test_maxsim_orders_the_crafted_example(maxsim_reranker, crafted):
    query, passages = crafted
    scores = maxsim_reranker.score(query, passages)
    assert scores.dtype == np.float32 and scores.shape == (3,)
    assert np.argsort(-scores).tolist() == [2, 1, 0]
    assert np.all(scores <= 1.0 + 1e-5) and np.all(scores >= -1.0 - 1e-5)


def test_maxsim_scores_do_not_depend_on_batching(maxsim_reranker, crafted):
    from rag.rerank.maxsim import MaxSimReranker

    query, passages = crafted
    one_by_one = np.concatenate([maxsim_reranker.score(query, [p]) for p in passages])
    np.testing.assert_allclose(maxsim_reranker.score(query, passages), one_by_one, atol=1e-4)
    assert maxsim_reranker.name == "maxsim" and MaxSimReranker.name == "maxsim"


def test_no_passages_give_an_empty_array(maxsim_reranker):
    assert maxsim_reranker.score("anything", []).shape == (0,)
