"""Prompt-lookup speculative decoding gives exactly the greedy output."""

from __future__ import annotations

import pytest

from rag.generate.base import GenerationConfig
from rag.model.generation import Decoder, DecodeStats
from rag.model.speculative import DraftPolicy, PromptLookup


def test_prompt_lookup_drafts_the_continuation_of_the_latest_match():
    lookup = PromptLookup(max_ngram=2, max_draft=3)
    lookup.extend([1, 2, 3, 4, 5, 9, 1, 2, 7, 8, 1, 2])
    assert lookup.draft() == [7, 8, 1]  # "1 2" last seen before "7 8"
    assert lookup.draft(limit=1) == [7]
    lookup.extend([6])
    assert lookup.draft() == []  # nothing followed "2 6" or "6"


def test_draft_policy_drafts_long_when_drafts_are_accepted_and_cheap():
    policy = DraftPolicy(max_draft=8)
    for n, seconds in ((1, 0.010), (2, 0.011), (5, 0.013), (9, 0.016)):
        policy.observe_pass(n, seconds)
    for _ in range(10):
        policy.observe_draft(4, 4)
    assert policy.acceptance > 0.9
    assert policy.length(8) == 8
    assert policy.length(3) == 3  # never more than the candidate has
    assert policy.length(0) == 0


def test_draft_policy_stops_drafting_when_drafts_are_rejected_or_dear():
    policy = DraftPolicy(max_draft=8)
    for _ in range(20):
        policy.observe_draft(2, 0)
    assert policy.acceptance < 0.1 and policy.length(8) == 0
    dear = DraftPolicy(max_draft=8)  # every extra token costs a whole pass: drafting can never pay
    for n in range(1, 10):
        dear.observe_pass(n, 0.01 * n)
    for _ in range(20):
        dear.observe_draft(2, 1)
    assert dear.length(8) == 0


def test_shadow_drafts_revive_drafting_when_the_text_starts_copying():
    policy = DraftPolicy(max_draft=8)
    policy.observe_pass(1, 0.010)
    policy.observe_pass(3, 0.012)
    for _ in range(20):
        policy.observe_draft(2, 0)
    assert policy.length(4) == 0
    for _ in range(6):  # plain decoding goes on; the guesses it did not verify turn out right
        policy.shadow([7, 8, 9])
        for token in (7, 8, 9):
            policy.generated(token)
    assert policy.acceptance > 0.6 and policy.length(4) > 0


@pytest.mark.parametrize("quant", ["int4", "int8"])
def test_speculative_output_equals_plain_greedy(load, rag_prompts, quant):
    model, tok = load(quant)
    decoder = Decoder(model, tok)
    config = GenerationConfig(max_tokens=48)
    drafted = accepted = 0
    for text in rag_prompts:
        prompt = tok.encode(tok.apply_chat_template([{"role": "user", "content": text}]))
        plain = list(decoder.tokens(prompt, config, speculative=False))
        stats = DecodeStats()
        fast = list(decoder.tokens(prompt, config, stats, speculative=True))
        assert fast == plain, tok.decode(plain) + " | " + tok.decode(fast)
        assert stats.forward_passes <= len(plain)
        drafted, accepted = drafted + stats.drafted_tokens, accepted + stats.accepted_tokens
    assert drafted > 0 and accepted > 0


def test_speculative_respects_max_tokens_and_stop_strings(load, rag_prompts):
    model, tok = load("int4")
    decoder = Decoder(model, tok)
    prompt = tok.encode(tok.apply_chat_template([{"role": "user", "content": rag_prompts[2]}]))
    for n in (1, 3, 7):
        assert len(list(decoder.tokens(prompt, GenerationConfig(max_tokens=n)))) == n
    full = "".join(decoder.stream(prompt, GenerationConfig(max_tokens=40)))
    stop = full[len(full) // 2:len(full) // 2 + 3]
    stats = DecodeStats()
    cut = "".join(decoder.stream(prompt, GenerationConfig(max_tokens=40, stop=(stop,)), stats))
    assert cut == full[:full.find(stop)] and stats.finish_reason == "stop"
