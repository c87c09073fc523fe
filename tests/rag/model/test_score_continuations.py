"""Scoring replies from a cached prompt agrees with scoring them in one uncached pass."""

from __future__ import annotations

import pytest
import torch

from core.errors import ConfigError


def test_cached_prefix_scores_equal_one_full_pass_and_pick_the_likely_reply(generator):
    decoder = generator.decoder
    tok = generator.tokenizer
    prompt = tok.encode("The capital of France is", add_bos=False)
    run = tok.encode(" Paris, a city", add_bos=False)
    other = tok.encode(" a banana split", add_bos=False)
    ends = list(range(1, len(run) + 1))
    scores, (banana,) = decoder.score_prefixes(prompt, [(run, ends), (other, [len(other)])])
    stops = torch.tensor(sorted(decoder.stop_ids))
    with torch.inference_mode():
        for end, score in zip(ends, scores):
            ids = prompt + run[:end]
            logp = torch.log_softmax(generator.model(torch.tensor([ids]))[0].float(), -1)
            full = float(logp[torch.arange(len(prompt) - 1, len(ids) - 1), torch.tensor(ids[len(prompt) :])].sum())
            full += float(torch.logsumexp(logp[-1, stops], -1))
            # the cached path runs the one-call int4 step (activations quantized to int8), the full pass
            # the module path: the two agree within a few per cent (unlikely tokens differ most), not bit for bit
            assert abs(full - score) < 0.05 * abs(full) + 0.1
    assert scores[0] > banana


def test_the_likelier_whole_reply_scores_higher(generator):
    from rag.generate.base import ChatMessage

    messages = [ChatMessage("user", "What is the capital of France? Answer with one word.")]
    runs = [generator.tokenizer.encode(word, add_bos=False) for word in ("Paris", "Banana")]
    paris, banana = generator.score_replies(messages, [(tokens, [len(tokens)]) for tokens in runs])
    assert paris[0] > banana[0]


def test_bad_runs_are_refused(generator):
    with pytest.raises(ConfigError):
        generator.decoder.score_prefixes([1, 2], [([5, 6], [3])])
    with pytest.raises(ConfigError):
        generator.decoder.score_prefixes([1, 2], [([], [1])])
