"""Beam search."""

from __future__ import annotations

from rag.generate.base import GenerationConfig
from rag.model.beam import beam_search
from rag.model.generation import Decoder


def test_one_beam_is_greedy_and_more_beams_score_no_worse(load):
    model, tok = load("int4")
    prompt = tok.encode(tok.apply_chat_template([{"role": "user", "content": "Name a primary colour."}]))
    greedy = list(Decoder(model, tok).tokens(prompt, GenerationConfig(max_tokens=12), speculative=False))
    one = beam_search(model, prompt, 1, 12, [tok.eos_id])[0]
    assert list(one.tokens) == greedy
    beams = beam_search(model, prompt, 3, 12, [tok.eos_id], length_penalty=0.0)
    assert 1 <= len(beams) <= 3
    scores = [h.score(0.0) for h in beams]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] >= one.log_prob - 1e-4
