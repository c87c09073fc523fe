"""The generator interface every backend implements (torch decoder, transformers, llama.cpp)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from indexes.errors import ConfigError


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True)
class GenerationConfig:
    """Sampling settings. ``temperature == 0`` means greedy decoding.

    ``num_beams > 1`` asks for beam search instead: the most likely reply among
    ``num_beams`` hypotheses kept per step, scored by log-probability divided by
    length ** ``length_penalty``. Beam search is deterministic, so it refuses a
    temperature; backends that cannot search beams refuse ``num_beams > 1``.
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


@dataclass
class GenerationResult:
    text: str
    prompt_tokens: int
    generated_tokens: int
    finish_reason: str  # "stop" (end token or stop string) or "length"
    prefill_seconds: float = 0.0
    decode_seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def decode_tokens_per_s(self) -> float:
        return self.generated_tokens / self.decode_seconds if self.decode_seconds > 0 else 0.0

    @property
    def prefill_tokens_per_s(self) -> float:
        return self.prompt_tokens / self.prefill_seconds if self.prefill_seconds > 0 else 0.0


class Generator(ABC):
    """A local language model that answers chat messages.

    Implementations apply the model's own chat template to ``messages``.
    """

    name: str = "generator"

    @abstractmethod
    def generate(self, messages: Sequence[ChatMessage], config: GenerationConfig | None = None) -> GenerationResult:
        """Generate a full reply to ``messages``."""

    def stream(self, messages: Sequence[ChatMessage], config: GenerationConfig | None = None) -> Iterator[str]:
        """Yield the reply as text pieces; the default yields it whole."""
        yield self.generate(messages, config).text

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Number of tokens ``text`` takes in this model's vocabulary."""

    def close(self) -> None:
        """Release resources (optional)."""
