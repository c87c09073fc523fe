"""``context="retro"``: the retrieved text enters the model through chunked cross-attention, not the prompt.

The prompt holds the question alone. Each chunk of the decoder's sequence (m tokens, set
by the trained retrofit) gets k neighbours from the request's passages:

* chunks of the prompt get the sentences that best answer the question (the focus
  ranking the prompt context uses) with the text that follows each;
* a chunk completed while generating retrieves again, ranking the passages' sentences
  against the question and that chunk's text (RETRO's retrieval per chunk, among the
  request's candidates).

A neighbour is cut to r tokens. The answer cites the passages whose neighbours received
at least half an even share of their chunk's attention (:data:`ATTENDED_SHARE`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core.errors import InvalidInputError
from rag.generate.base import ChatMessage, GenerationConfig, Generator, RetroGenerator
from rag.model.retro import Neighbour
from rag.pipeline.focus import Focus, FocusSentences, ScoredSentence
from rag.pipeline.prompt import Passage
from rag.pipeline.request import question_head

CONTEXTS = ("prompt", "retro")  # how retrieved text enters the model (``fusion`` is how rankings merge)
RETRO_SYSTEM = "Answer the question in a few words."
ATTENDED_SHARE = 0.5  # a neighbour is cited when its share of attention is at least this times 1/k


def check_context(context: str) -> str:
    if context not in CONTEXTS:
        raise InvalidInputError(f"unknown context {context!r}; use one of {', '.join(CONTEXTS)}")
    return context


@dataclass(frozen=True)
class RetroWritten:
    """What a retro generation wrote, which passages it attended to, and its costs."""

    text: str
    prompt_tokens: int
    generated_tokens: int
    attended: list[int]  # passage numbers, most attended first
    fusion_seconds: float
    decode_tokens_per_s: float


class RetroFusion:
    """Write an answer with the passages as neighbours of the retrofit's cross-attention.

    Args:
        focus: ranks the passages' sentences against a text (the question, then question + chunk).
    """

    def __init__(self, focus: FocusSentences) -> None:
        self.focus = focus

    def __call__(
        self,
        generator: Generator,
        question: str,
        passages: Sequence[Passage],
        focus: Focus,
        config: GenerationConfig,
        on_text: Callable[[str], None] | None = None,
    ) -> RetroWritten:
        if not isinstance(generator, RetroGenerator):
            raise InvalidInputError(
                f"context 'retro' needs the torch generator (our decoder with the CCA retrofit); "
                f"the {generator.name} generator has none: use context 'prompt'"
            )
        retro = generator.retro_config()
        by_number = {p.number: p for p in passages}
        asked = question_head(question.strip(), generator.count_tokens)  # a pasted page: its beginning
        messages = [ChatMessage("system", RETRO_SYSTEM), ChatMessage("user", asked)]
        prompt_len = len(generator.prompt_ids(messages))

        def neighbours(ranked: Sequence[ScoredSentence]) -> list[Neighbour]:
            out = []
            for s in ranked[: retro.neighbours]:
                text = by_number[s.passage].chunk.text[s.start :]  # the sentence and what follows it
                ids = generator.token_ids(text)[: retro.neighbour_len]
                if ids:
                    out.append(Neighbour(tuple(ids), label=s.passage))
            return out

        first = neighbours(focus.sentences)

        def source(chunk: int, tokens: Sequence[int]) -> list[Neighbour]:
            if (chunk + 1) * retro.chunk <= prompt_len:
                return first
            written = generator.token_text(tokens)
            return neighbours(self.focus(f"{question} {written}", passages).sentences)

        result, attended = generator.generate_retro(messages, source, config, on_text)
        share = ATTENDED_SHARE / retro.neighbours
        mass: dict[int, float] = {}
        for neighbour, fraction in attended:
            if fraction >= share:
                mass[neighbour.label] = mass.get(neighbour.label, 0.0) + fraction
        return RetroWritten(
            result.text,
            result.prompt_tokens,
            result.generated_tokens,
            sorted(mass, key=mass.get, reverse=True),
            result.extra.get("fusion_seconds", 0.0),
            result.decode_tokens_per_s,
        )
