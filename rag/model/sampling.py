"""Next-token selection: logit bias, repetition penalty, temperature, top-k, top-p, seeded sampling.

The order follows llama.cpp and transformers: bias and penalties change the
logits, then greedy decoding takes the argmax, or sampling divides by the
temperature, keeps the top-k, keeps the smallest set whose probability reaches
top-p, and draws from what is left.

The repetition penalty is CTRL's (positive logits divided by it, negative ones
multiplied) over the last ``REPETITION_WINDOW`` tokens. llama.cpp and
transformers count the prompt too; at the start of a RAG answer the window then
holds the end of the prompt (the question, the passages' last words), and the
penalty pushes the model away from the very words it should copy.
``GenerationConfig.penalize_prompt = False`` counts generated tokens only.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from core.errors import ConfigError
from rag.model.generation_config import GenerationConfig

REPETITION_WINDOW = 64  # the penalty applies to the last this many tokens (llama.cpp's repeat_last_n)


class Sampler:
    """Turns a logits vector into the next token id under a :class:`GenerationConfig`.

    Args:
        config: the sampling settings; ``temperature == 0`` is greedy.
        vocab_size: the model's vocabulary size (bias ids must be below it).
        prompt_length: how many leading tokens of every history are the prompt; with
            ``config.penalize_prompt`` False the repetition penalty skips them.
    """

    def __init__(self, config: GenerationConfig, vocab_size: int, prompt_length: int = 0) -> None:
        self.config = config
        self.penalty_start = 0 if config.penalize_prompt else prompt_length  # first history index penalised
        self.bias: torch.Tensor | None = None
        if config.logit_bias:
            self.bias = torch.zeros(vocab_size)
            for token_id, value in config.logit_bias:
                if not 0 <= token_id < vocab_size:
                    raise ConfigError(f"logit_bias names token {token_id}, outside the vocabulary of {vocab_size}")
                self.bias[token_id] += value
        self.generator = torch.Generator()
        if config.seed is not None:
            self.generator.manual_seed(config.seed)
        else:
            self.generator.seed()

    @property
    def greedy(self) -> bool:
        return self.config.temperature == 0

    def adjust(self, logits: torch.Tensor, history: Sequence[int]) -> torch.Tensor:
        """Apply logit bias and repetition penalty.

        Args:
            logits: float32 (vocab,) for one position (not modified).
            history: the token ids so far (prompt and generated), most recent last.
        Returns:
            float32 (vocab,).
        """
        out = logits.float().clone()
        if self.bias is not None:
            out += self.bias
        penalty = self.config.repetition_penalty
        recent = history[max(self.penalty_start, len(history) - REPETITION_WINDOW) :] if penalty != 1.0 else ()
        if recent:
            ids = torch.tensor(sorted(set(recent)), dtype=torch.long)
            seen = out[ids]
            out[ids] = torch.where(seen > 0, seen / penalty, seen * penalty)
        return out

    def choose(self, logits: torch.Tensor, history: Sequence[int], allowed: torch.Tensor | None = None) -> int:
        """The next token id.

        Args:
            logits: float32 (vocab,).
            history: token ids so far (for the repetition penalty).
            allowed: optional bool (vocab,) mask; tokens outside it are never chosen.
        """
        scores = self.adjust(logits, history)
        if allowed is not None:
            scores = scores.masked_fill(~allowed, float("-inf"))
        if not torch.isfinite(scores.max()):
            raise ConfigError("every token is excluded: logit bias or the constraint leaves nothing to choose")
        if self.greedy:
            return int(torch.argmax(scores))
        return int(torch.multinomial(self.probabilities(scores), 1, generator=self.generator))

    def probabilities(self, scores: torch.Tensor) -> torch.Tensor:
        """Temperature, top-k and top-p applied to adjusted logits: float32 (vocab,) summing to 1."""
        cfg = self.config
        scores = scores / cfg.temperature
        if 0 < cfg.top_k < scores.numel():  # exactly k survive, even when scores tie at the k-th
            keep = torch.topk(scores, cfg.top_k).indices
            scores = torch.full_like(scores, float("-inf")).index_copy_(0, keep, scores[keep])
        probs = torch.softmax(scores, dim=-1)
        if cfg.top_p < 1.0:
            sorted_probs, order = torch.sort(probs, descending=True)
            before = torch.cumsum(sorted_probs, dim=0) - sorted_probs  # mass of strictly more likely tokens
            drop = before >= cfg.top_p  # keeps the smallest prefix whose mass reaches top_p (at least one token)
            probs = probs.scatter(0, order[drop], 0.0)
            probs = probs / probs.sum()
        return probs
