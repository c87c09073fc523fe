"""Prompts longer than one pass of the step run through it in passes: the logits are exactly those of one
long pass (every row is computed alone, the cache holds the same keys either way), and greedy decoding after
a long prompt continues as after the BLAS path's prefill."""

from __future__ import annotations

import pytest
import torch

from rag.model import model as model_module

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def int4(load):
    model, tok = load("int4")
    assert model.decode_step is not None, "an int4 model runs the one-call step"
    return model, tok


def prefill(model, ids: list[int], last_only: bool) -> tuple[torch.Tensor, object]:
    cache = model.new_cache(len(ids) + 16)
    with torch.inference_mode():
        return model(torch.tensor([ids]), cache, last_only=last_only), cache


def continued(model, ids: list[int], follow: list[int]) -> torch.Tensor:
    """Logits (len(follow), vocab) of decoding ``follow`` one token at a time after the prompt ``ids``."""
    logits, cache = prefill(model, ids, last_only=True)
    rows = [logits[0, -1]]
    with torch.inference_mode():
        for t in follow[:-1]:
            rows.append(model(torch.tensor([[t]]), cache)[0, -1])
    return torch.stack(rows)


def test_a_4bit_model_keeps_longer_prompts_in_the_step(int4):
    model, _ = int4
    assert model._step_4bit  # SmolLM2's layers are all Q4_1
    threads = model.decode_step.threads
    assert model.step_max_tokens() == model_module.STEP_MAX_TOKENS_4BIT[0 if threads == 1 else 1]


def test_passes_give_the_logits_of_one_pass(int4, ppl_text, monkeypatch):
    model, tok = int4
    ids = tok.encode(ppl_text)[:50]
    monkeypatch.setattr(model, "step_max_tokens", lambda: 64)
    monkeypatch.setattr(model_module, "STEP_PASS_TOKENS", 64)
    whole, _ = prefill(model, ids, last_only=False)
    last, _ = prefill(model, ids, last_only=True)
    monkeypatch.setattr(model_module, "STEP_PASS_TOKENS", 16)  # passes of 16, 16, 16 and 2 tokens
    passes, _ = prefill(model, ids, last_only=False)
    passes_last, _ = prefill(model, ids, last_only=True)
    assert whole.shape == passes.shape == (1, 50, model.config.vocab_size)
    assert torch.equal(whole, passes)
    assert torch.equal(last, passes_last) and torch.equal(last[0, -1], whole[0, -1])


def test_greedy_decoding_after_a_long_prompt_matches_the_blas_path(int4, ppl_text, monkeypatch):
    model, tok = int4
    ids = tok.encode(ppl_text)[:120]
    monkeypatch.setattr(model, "step_max_tokens", lambda: 0)  # every prompt through BLAS
    first = continued(model, ids, [0])[0]
    follow = [int(first.argmax())]
    for _ in range(11):  # the BLAS path's greedy continuation
        follow.append(int(continued(model, ids, follow)[-1].argmax()))
    blas = continued(model, ids, follow)
    monkeypatch.setattr(model, "step_max_tokens", lambda: 10**6)
    monkeypatch.setattr(model_module, "STEP_PASS_TOKENS", 32)
    step = continued(model, ids, follow)
    # the step rounds activations to int8, BLAS does not: the same greedy choice wherever BLAS's choice is clear
    top2 = blas.topk(2, dim=-1).values
    clear = (top2[:, 0] - top2[:, 1]) > 0.5
    assert clear.sum() >= 6
    assert torch.equal(step.argmax(-1)[clear], blas.argmax(-1)[clear])
    assert (step - blas).abs().mean() < 0.05 * blas.abs().mean()
