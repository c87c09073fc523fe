"""Prompt-lookup speculative decoding gives exactly the greedy output."""

from __future__ import annotations

import pytest

from rag.generate.base import GenerationConfig
from rag.model.generation import Decoder, DecodeStats
from rag.model.speculative import PromptLookup


def test_prompt_lookup_drafts_the_continuation_of_the_latest_match():
    lookup = PromptLookup(max_ngram=2, max_draft=3, start_draft=3)
    lookup.extend([1, 2, 3, 4, 5, 9, 1, 2, 7, 8, 1, 2])
    assert lookup.draft() == [7, 8, 1]  # "1 2" last seen before "7 8"
    assert lookup.draft(limit=1) == [7]
    lookup.extend([6])
    assert lookup.draft() == []  # nothing followed "2 6" or "6"


def test_draft_length_adapts_to_acceptance():
    lookup = PromptLookup(max_draft=8, start_draft=2)
    lookup.feedback(2, 2)
    assert lookup.length == 4
    lookup.feedback(4, 1)
    assert lookup.length == 2
    lookup.feedback(2, 0)
    assert lookup.length == 1


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
