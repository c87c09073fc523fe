"""Training groups: the positive first, hard negatives that are never judged positives."""

from __future__ import annotations

import numpy as np

from rag.training.rerank.data import load_corpus, load_train_set
from rag.training.rerank.mining import Rankings, fuse, negative_pool
from rag.training.rerank.recipe import GroupSampler, Recipe


def test_negative_pool_drops_positives_and_padding_and_keeps_order():
    pool = negative_pool(np.array([5, 1, 2, -1]), np.array([1, 7, 5, 3]), positives={1}, k=3)
    assert pool.tolist() == [5, 2, 7]


def test_fusion_favours_documents_both_lists_rank_high():
    assert fuse(np.array([3, 1, 2]), np.array([1, 4, 3]), k=2).tolist() == [1, 3]


def test_groups_hold_one_positive_then_distinct_non_positives(fake_scifact):
    corpus, train = load_corpus(fake_scifact), load_train_set(fake_scifact)
    n = len(train.queries)
    ranked = Rankings(np.tile(np.arange(10), (n, 1)), np.tile(np.arange(10)[::-1], (n, 1)))
    position = {d: i for i, d in enumerate(corpus.doc_ids)}
    sampler = GroupSampler(train, ranked, position, len(corpus), Recipe(negatives=7, negative_depth=3))
    groups = sampler.epoch(np.random.default_rng(0))
    assert len(groups) == len(sampler) == 8
    for g in groups:
        qid = next(q for q, t in train.queries.items() if t == g.query)
        positives = {position[d] for d in train.qrels[qid]}
        assert g.positions[0] in positives
        assert len(g.positions) == 8 and len(set(g.positions)) == 8
        assert not set(g.positions[1:]) & positives
