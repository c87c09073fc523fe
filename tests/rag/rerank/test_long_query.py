"""A query longer than the cross-encoder's pair (a pasted argument) is read as its beginning, not refused."""

from __future__ import annotations

import numpy as np
import pytest

from rag.rerank.cross_encoder import MAX_LENGTH, MAX_QUERY_TOKENS


@pytest.mark.slow
def test_a_query_longer_than_the_pair_is_scored_on_its_first_tokens(shipped_reranker, crafted):
    query, passages = crafted
    long = " ".join([query] * 60)  # 4,739 characters, about 1,000 tokens: more than the pair's MAX_LENGTH
    assert len(shipped_reranker.model.tokenizer(long)["input_ids"]) > MAX_LENGTH
    scores = shipped_reranker.score(long, passages)  # the tokenizer refused the pair ("Truncation error")
    head = shipped_reranker.model.query_head(long)
    assert long.startswith(head) and len(shipped_reranker.model.tokenizer(head)["input_ids"]) == MAX_QUERY_TOKENS + 2
    np.testing.assert_allclose(scores, shipped_reranker.score(head, passages), rtol=1e-5)
    assert int(np.argmax(scores)) == 2  # the beginning still finds the relevant passage
    assert shipped_reranker.model.query_head(query) == query  # a short query is read whole
