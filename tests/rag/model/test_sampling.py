"""Sampling parameters do what they say (on synthetic logits and through the model)."""

from __future__ import annotations

import pytest
import torch

from core.errors import ConfigError
from rag.generate.base import GenerationConfig
from rag.model.generation import Decoder
from rag.model.sampling import Sampler

VOCAB = 50


def logits(seed: int = 0) -> torch.Tensor:
    return torch.randn(VOCAB, generator=torch.Generator().manual_seed(seed)) * 3


def draws(config: GenerationConfig, scores: torch.Tensor, n: int = 400, history=()) -> list[int]:
    sampler = Sampler(config, VOCAB)
    return [sampler.choose(scores, list(history)) for _ in range(n)]


def test_greedy_takes_the_argmax():
    scores = logits()
    assert set(draws(GenerationConfig(temperature=0), scores, 5)) == {int(scores.argmax())}


def test_top_k_never_samples_outside_the_k_best():
    scores = logits(1)
    best = set(torch.topk(scores, 5).indices.tolist())
    seen = set(draws(GenerationConfig(temperature=5.0, top_k=5, seed=3), scores, 2000))
    assert seen <= best and len(seen) == 5


def test_top_k_keeps_exactly_k_when_scores_tie():
    scores = torch.zeros(VOCAB)
    assert len(set(draws(GenerationConfig(temperature=1.0, top_k=3, seed=0), scores, 2000))) == 3


def test_top_p_keeps_the_smallest_set_reaching_p():
    scores = torch.full((VOCAB,), -30.0)
    scores[:3] = torch.log(torch.tensor([0.5, 0.3, 0.2]))
    assert set(draws(GenerationConfig(temperature=1.0, top_p=0.75, seed=0), scores, 2000)) == {0, 1}
    assert set(draws(GenerationConfig(temperature=1.0, top_p=0.5, seed=0), scores, 200)) == {0}


def test_seed_reproduces_and_different_seeds_differ():
    scores = logits(2)
    config = GenerationConfig(temperature=1.0, seed=42)
    assert draws(config, scores, 50) == draws(config, scores, 50)
    assert draws(config, scores, 50) != draws(GenerationConfig(temperature=1.0, seed=43), scores, 50)


def test_logit_bias_minus_inf_bans_and_plus_forces():
    scores = logits(3)
    top = int(scores.argmax())
    banned = draws(GenerationConfig(logit_bias=((top, float("-inf")),)), scores, 3)
    assert top not in banned
    forced = draws(GenerationConfig(temperature=2.0, seed=1, logit_bias=((7, 100.0),)), scores, 50)
    assert set(forced) == {7}
    with pytest.raises(ConfigError, match="outside the vocabulary"):
        Sampler(GenerationConfig(logit_bias=((VOCAB, 1.0),)), VOCAB)


def test_repetition_penalty_discourages_recent_tokens():
    scores = torch.zeros(VOCAB)
    scores[4], scores[9] = 2.0, 1.9
    assert draws(GenerationConfig(), scores, 1, history=[4])[0] == 4
    assert draws(GenerationConfig(repetition_penalty=1.3), scores, 1, history=[4])[0] == 9


def test_repetition_penalty_can_leave_the_prompt_out():
    scores = torch.zeros(VOCAB)
    scores[4], scores[9] = 2.0, 1.9
    prompt = [4, 7]  # the prompt holds token 4 (a passage's word the answer should copy)
    everywhere = Sampler(GenerationConfig(repetition_penalty=1.3), VOCAB, prompt_length=len(prompt))
    assert everywhere.choose(scores, prompt) == 9
    output_only = Sampler(GenerationConfig(repetition_penalty=1.3, penalize_prompt=False), VOCAB, len(prompt))
    assert output_only.choose(scores, prompt) == 4
    assert output_only.choose(scores, [*prompt, 4]) == 9  # generated once: penalised


def test_all_tokens_banned_is_an_error():
    with pytest.raises(ConfigError, match="every token is excluded"):
        Sampler(GenerationConfig(), VOCAB).choose(logits(), [], torch.zeros(VOCAB, dtype=torch.bool))


def test_through_the_model_bias_bans_and_seed_reproduces(load):
    model, tok = load("int4")
    decoder = Decoder(model, tok)
    prompt = tok.encode(tok.apply_chat_template([{"role": "user", "content": "Say something about cats."}]))
    greedy = list(decoder.tokens(prompt, GenerationConfig(max_tokens=6)))
    banned = list(decoder.tokens(prompt, GenerationConfig(max_tokens=6, logit_bias=((greedy[0], float("-inf")),))))
    assert greedy[0] not in banned
    config = GenerationConfig(max_tokens=12, temperature=1.2, top_k=40, seed=7)
    assert list(decoder.tokens(prompt, config)) == list(decoder.tokens(prompt, config))
