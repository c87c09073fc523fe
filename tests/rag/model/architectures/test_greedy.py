"""Every architecture decodes greedily through :class:`Decoder` to transformers' tokens, past its window."""

from __future__ import annotations

import torch

from rag.model import Decoder, GenerationConfig


def test_greedy_generation_equals_transformers(built):
    """The public decoding loop (prefill, steps, prompt-lookup drafts) past the window picks transformers' tokens."""
    model, hf, prompt = built.models["fp32"], built.hf, built.sequences[0][:6]
    stops = set(built.tokenizer.stop_ids)
    ids = list(prompt)
    with torch.inference_mode():
        while len(ids) < len(prompt) + 16:  # 22 positions: well past the window of 8
            token = int(hf(torch.tensor([ids])).logits[0, -1].argmax())
            if token in stops:
                break
            ids.append(token)
    ours = list(Decoder(model, built.tokenizer).tokens(prompt, GenerationConfig(max_tokens=16)))
    assert ours == ids[len(prompt) :]
