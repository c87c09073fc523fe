"""The zero-shot MaxSim reranker."""

from __future__ import annotations

import numpy as np
import pytest


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


def _transformers_scores(query: str, passages: list[str]) -> np.ndarray:
    """MaxSim as it was computed through ``transformers`` (AutoTokenizer, BertModel): the reference."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from ingest.embed import model_dir
    from rag.rerank.maxsim import MAX_LENGTH

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir()), local_files_only=True)
    model = AutoModel.from_pretrained(str(model_dir()), local_files_only=True).eval()

    def vectors(texts):
        batch = tokenizer(texts, truncation=True, max_length=MAX_LENGTH, padding=True, return_tensors="pt",
                          return_special_tokens_mask=True)  # fmt: skip
        special = batch.pop("special_tokens_mask").bool()
        hidden = torch.nn.functional.normalize(model(**batch).last_hidden_state, dim=-1)
        return hidden, batch["attention_mask"].bool() & ~special

    with torch.inference_mode():
        (q,), (q_keep,) = vectors([query])
        p, p_keep = vectors(passages)
        sims = torch.einsum("qh,bth->bqt", q[q_keep], p).masked_fill(~p_keep[:, None, :], -2.0)
        return sims.max(dim=2).values.clamp(min=-1.0).mean(dim=1).numpy()


@pytest.mark.slow
def test_scores_equal_those_of_the_transformers_model(maxsim_reranker, crafted):
    query, passages = crafted
    passages = [*passages, passages[2] * 8]  # one past MAX_LENGTH tokens: cut as before
    order = np.argsort([len(p) for p in passages], kind="stable")  # the batch the reranker runs (padding)
    want = np.empty(len(passages), dtype=np.float32)
    want[order] = _transformers_scores(query, [passages[i] for i in order])
    np.testing.assert_array_equal(maxsim_reranker.score(query, passages), want)
