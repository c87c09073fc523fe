"""The generator interface every backend implements (torch decoder, transformers, llama.cpp).

:class:`GenerationConfig` is defined in :mod:`rag.model.generation_config` (the decoder
package takes its settings from its own module) and re-exported here. A backend that can
also read retrieved text through chunked cross-attention (``context="retro"``) is a
:class:`RetroGenerator`; the others are not, and the RETRO stage refuses them by that.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rag.model.generation_config import GenerationConfig  # defined with the decoder; re-exported here

if TYPE_CHECKING:  # the retrofit's types, without loading torch for backends that have none
    from rag.model.retro import Neighbour, NeighbourSource, RetroConfig


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass
class GenerationResult:
    text: str
    prompt_tokens: int
    generated_tokens: int
    finish_reason: str  # "stop" (end token or stop string), "length" or "repetition" (see GenerationConfig)
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
    # Whether ``generate`` takes ``constraint=`` (a rag.model ByteMachine limiting the output) and the
    # backend scores given replies (``score_replies``, ``choose``): extractive answers and tool calls need it.
    supports_constraints: bool = False
    # Whether ``generate`` takes ``constraint=`` a rag.model JsonMachine only, enforcing its JSON schema another
    # way (a model server's response format): tool arguments work, extractive answers (which score) do not.
    supports_json_schema: bool = False

    @abstractmethod
    def generate(self, messages: Sequence[ChatMessage], config: GenerationConfig | None = None) -> GenerationResult:
        """Generate a full reply to ``messages``."""

    def stream(self, messages: Sequence[ChatMessage], config: GenerationConfig | None = None) -> Iterator[str]:
        """Yield the reply as text pieces; the default yields it whole."""
        yield self.generate(messages, config).text

    def generate_streaming(
        self, messages: Sequence[ChatMessage], config: GenerationConfig | None, on_text: Callable[[str], None]
    ) -> GenerationResult:
        """Generate a full reply, handing ``on_text`` each piece as it is decoded (the default: the whole reply
        once). An exception ``on_text`` raises stops the generation (and frees the model) and propagates."""
        result = self.generate(messages, config)
        on_text(result.text)
        return result

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Number of tokens ``text`` takes in this model's vocabulary."""

    def close(self) -> None:
        """Release resources (optional)."""


class RetroGenerator(Generator):
    """A generator whose model takes retrieved text through chunked cross-attention (RETRO), not the prompt.

    What the RETRO stage (:mod:`rag.pipeline.retro`) needs: the retrofit's shape, to cut
    neighbours to size and to tell prompt chunks from written ones; the model's tokens, to
    build neighbours and to read back a written chunk; and a generation that asks ``source``
    for each chunk's neighbours as the chunk completes.
    """

    @abstractmethod
    def retro_config(self) -> RetroConfig:
        """The retrofit's shape: chunk length m, neighbours per chunk k, tokens per neighbour r."""

    @abstractmethod
    def prompt_ids(self, messages: Sequence[ChatMessage]) -> list[int]:
        """Token ids of ``messages`` rendered with the chat template, ending with the assistant turn."""

    @abstractmethod
    def token_ids(self, text: str) -> list[int]:
        """Token ids of ``text`` alone (no beginning-of-sequence token): what a neighbour holds."""

    @abstractmethod
    def token_text(self, ids: Sequence[int]) -> str:
        """The text of token ids (a chunk the model has written)."""

    @abstractmethod
    def generate_retro(
        self,
        messages: Sequence[ChatMessage],
        source: NeighbourSource,
        config: GenerationConfig | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> tuple[GenerationResult, list[tuple[Neighbour, float]]]:
        """Generate a reply while ``source`` gives each completed chunk of m tokens its neighbours.

        Returns:
            The result, and every neighbour with the share of its chunk's attention it received.
        """
