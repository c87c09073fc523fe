"""Beam search: keep the ``num_beams`` most likely continuations, one batch row each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from core.errors import ConfigError
from rag.model.kv_cache import KVCache
from rag.model.model import LlamaModel


@dataclass(frozen=True)
class Hypothesis:
    tokens: tuple[int, ...]  # generated ids, without the end token
    log_prob: float  # sum of the tokens' log-probabilities (the end token's included when it ended)
    finished: bool  # ended with the end token

    def score(self, length_penalty: float) -> float:
        """log_prob / length ** length_penalty: > 0 favours longer outputs, < 0 shorter ones."""
        return self.log_prob / max(1, len(self.tokens) + self.finished) ** length_penalty


def beam_search(
    model: LlamaModel,
    prompt: Sequence[int],
    num_beams: int,
    max_tokens: int,
    stop_ids: Sequence[int],
    length_penalty: float = 1.0,
    context: object = None,
) -> list[Hypothesis]:
    """The best hypotheses, best first (finished ones, or the live beams if none finished).

    Args:
        model: the decoder.
        prompt: prompt token ids.
        num_beams: beams kept per step (1 is greedy decoding).
        max_tokens: most tokens generated per hypothesis.
        stop_ids: end-of-sequence ids.
        length_penalty: exponent of the length normalisation of scores.
        context: passed to cross-attention modules.
    """
    if num_beams < 1 or max_tokens < 1:
        raise ConfigError("num_beams and max_tokens must be at least 1")
    stops = set(stop_ids)
    with torch.inference_mode():
        logits, cache = _prefill(model, prompt, num_beams, max_tokens, context)
        beams = [Hypothesis((), 0.0, False)]
        finished: list[Hypothesis] = []
        for _ in range(max_tokens):
            nxt, parents = _extend(beams, logits[: len(beams)], num_beams, stops, finished)
            if not nxt or _done(finished, nxt, num_beams, length_penalty):
                break
            beams = nxt
            logits = _step(model, cache, beams, parents, num_beams, context)
    ranked = finished if finished else beams
    return sorted(ranked, key=lambda h: h.score(length_penalty), reverse=True)[:num_beams]


def _prefill(
    model: LlamaModel, prompt: Sequence[int], num_beams: int, max_tokens: int, context: object
) -> tuple[torch.Tensor, KVCache]:
    """Run the prompt once, in a one-row cache, then copy that to one row per beam: logits (1, vocab), the cache."""
    one = model.new_cache(min(model.config.max_seq_len, len(prompt) + max_tokens))
    logits = model(torch.tensor([list(prompt)]), one, context=context, last_only=True)[:, -1]
    return logits, one.expand(num_beams)


def _extend(
    beams: list[Hypothesis], logits: torch.Tensor, num_beams: int, stops: set[int], finished: list[Hypothesis]
) -> tuple[list[Hypothesis], list[int]]:
    """Up to ``num_beams`` best live continuations of ``beams`` and the index of each one's parent.

    ``logits`` are (beams, vocab); continuations that end with a stop token are appended to ``finished``.
    """
    logp = torch.log_softmax(logits.float(), dim=-1)  # (beams, vocab)
    total = logp + torch.tensor([b.log_prob for b in beams])[:, None]
    values, flat = torch.topk(total.flatten(), min(2 * num_beams, total.numel()))
    nxt, parents = [], []
    for value, index in zip(values.tolist(), flat.tolist()):
        parent, token = divmod(index, logp.shape[1])
        if token in stops:
            finished.append(Hypothesis(beams[parent].tokens, value, True))
        else:
            nxt.append(Hypothesis((*beams[parent].tokens, token), value, False))
            parents.append(parent)
        if len(nxt) == num_beams:
            break
    return nxt, parents


def _step(
    model: LlamaModel, cache: KVCache, beams: list[Hypothesis], parents: list[int], num_beams: int, context: object
) -> torch.Tensor:
    """Make cache row i hold beam i's parent's positions, then run each beam's last token: logits (num_beams, vocab).

    Rows past the live beams (fewer than ``num_beams`` left) run a padding token whose logits are never read.
    """
    rows = torch.tensor(parents + [0] * (num_beams - len(parents)))
    if not torch.equal(rows, torch.arange(num_beams)):
        cache.reorder(rows)
    step = torch.tensor([[b.tokens[-1]] for b in beams] + [[0]] * (num_beams - len(beams)))
    return model(step, cache, context=context)[:, -1]


def _done(finished: list[Hypothesis], live: list[Hypothesis], num_beams: int, length_penalty: float) -> bool:
    """Stop once num_beams hypotheses finished and no live beam scores better than the worst of them."""
    if len(finished) < num_beams:
        return False
    worst = sorted(h.score(length_penalty) for h in finished)[-num_beams]
    return max(h.score(length_penalty) for h in live) <= worst
