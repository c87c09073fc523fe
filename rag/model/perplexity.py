"""Perplexity of a text under the model, computed the way decoding computes it."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from core.errors import ConfigError
from rag.model.fused import MAX_TOKENS
from rag.model.model import LlamaModel


def perplexity(model: LlamaModel, tokens: Sequence[int], chunk: int = MAX_TOKENS) -> float:
    """exp(mean negative log-likelihood of tokens[1:] given what precedes each).

    The text is fed through the KV cache ``chunk`` tokens at a time, so with the
    default chunk the quantized kernels and the fused few-token path that
    decoding uses are the ones measured (a single long pass would take the
    prefill path instead).

    Args:
        model: the decoder.
        tokens: at least two token ids, within the model's context.
        chunk: tokens per forward pass.
    """
    if len(tokens) < 2:
        raise ConfigError("perplexity needs at least two tokens")
    cache = model.new_cache(len(tokens))
    total = 0.0
    with torch.inference_mode():
        for start in range(0, len(tokens) - 1, chunk):
            piece = list(tokens[start : start + chunk])
            targets = torch.tensor(tokens[start + 1 : start + 1 + len(piece)])
            logits = model(torch.tensor([piece]), cache)[0, : len(targets)]  # (n, vocab)
            total += float(F.cross_entropy(logits.float(), targets, reduction="sum"))
    return math.exp(total / (len(tokens) - 1))
