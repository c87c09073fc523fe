"""Generation settings: one frozen dataclass that the decoding loop, the sampler and every backend read.

It lives in the decoder package so that :mod:`rag.model` stands alone;
``rag.generate.base`` re-exports it for the rest of the platform.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import ConfigError


@dataclass(frozen=True)
class GenerationConfig:
    """Sampling settings. ``temperature == 0`` means greedy decoding.

    ``num_beams > 1`` asks for beam search instead: the most likely reply among
    ``num_beams`` hypotheses kept per step, scored by log-probability divided by
    length ** ``length_penalty``. Beam search is deterministic, so it refuses a
    temperature; backends that cannot search beams refuse ``num_beams > 1``.

    ``stop_repeat_ngram = N`` ends a reply that has started to loop: once the
    same N generated tokens occur for the ``stop_repeat_count``-th time, the
    reply is cut back to just before the second copy and finishes with reason
    "repetition" (see :mod:`rag.model.repetition`). The prompt never counts,
    so answers stay free to copy passages. Streams hold back the few tokens that
    could still be cut. Constrained decoding ignores it (a cut would leave the
    constrained output incomplete), and so does beam search.
    """

    max_tokens: int = 256
    temperature: float = 0.0
    top_k: int = 0  # 0 disables top-k filtering
    top_p: float = 1.0  # 1.0 disables nucleus filtering
    repetition_penalty: float = 1.0  # 1.0 disables it; >1 discourages repeats
    stop: tuple[str, ...] = ()  # generation ends before the first of these strings
    seed: int | None = None
    logit_bias: tuple[tuple[int, float], ...] = ()  # (token id, bias) pairs
    num_beams: int = 1  # 1 decodes (greedily or by sampling); more searches beams
    length_penalty: float = 1.0  # beam scores: log-prob / length ** length_penalty
    penalize_prompt: bool = True  # the repetition penalty counts prompt tokens (llama.cpp's way); False: output only
    stop_repeat_ngram: int = 0  # N: stop when N generated tokens repeat (0 disables; >= 2 otherwise)
    stop_repeat_count: int = 2  # occurrences of those N tokens that stop (2: the second copy)

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ConfigError(f"max_tokens must be at least 1, got {self.max_tokens}")
        if self.temperature < 0:
            raise ConfigError(f"temperature must be >= 0, got {self.temperature}")
        if self.top_k < 0:
            raise ConfigError(f"top_k must be >= 0, got {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.repetition_penalty <= 0:
            raise ConfigError(f"repetition_penalty must be > 0, got {self.repetition_penalty}")
        if any(not s for s in self.stop):
            raise ConfigError("stop strings must not be empty")
        if not 1 <= self.num_beams <= 16:
            raise ConfigError(f"num_beams must be in [1, 16], got {self.num_beams}")
        if self.num_beams > 1 and self.temperature > 0:
            raise ConfigError("beam search is deterministic: set temperature to 0 or num_beams to 1")
        if self.stop_repeat_ngram and self.stop_repeat_ngram < 2:
            raise ConfigError(f"stop_repeat_ngram must be 0 (off) or at least 2 tokens, got {self.stop_repeat_ngram}")
        if self.stop_repeat_count < 2:
            raise ConfigError(f"stop_repeat_count must be at least 2 (the second copy), got {self.stop_repeat_count}")
