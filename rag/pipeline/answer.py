"""How an answer is written from the retrieved passages, and when the platform abstains.

Answer modes (``AnswerOptions.mode``), measured with ``rag eval qa`` (benchmarks/README.md "Answers"):

* ``reader`` (the default): the trained span reader finds the answer in the passages and
  its "no answer" score decides abstention (:mod:`rag.pipeline.reading`); no generation;
* ``passages``: whole passages in the prompt, free generation (the platform's first way);
* ``focus``: the best sentences of the passages (:mod:`rag.pipeline.focus`), free generation;
* ``extract``: the span of the best sentences that the model scores likeliest as its
  whole reply (:mod:`rag.pipeline.extract`); the span's passage is cited;
* ``auto`` (the default before the reader): ``focus`` for questions that ask for an explanation, a comparison or a list
  (why, explain, describe, how does ...), ``extract`` for the others. On the report half
  of the SQuAD 2.0 dev half, extract reached EM 0.35 / F1 0.39 where focus had 0.00 / 0.14
  and passages 0.00 / 0.12 (40 questions; benchmarks/README.md "Answers"), so extracting
  is the default wherever a short answer can do.

Abstention in the generating modes: before generating, when the best sentence's relevance is under
``ABSTAIN_THRESHOLD`` (calibrated on one half of the SQuAD 2.0 dev half, see
``rag eval qa --part calibrate``), the answer says it cannot answer and returns the
closest passages; after generating, the same happens when no sentence of the
answer is supported by a passage (:mod:`rag.pipeline.support`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from core.errors import InvalidInputError
from rag.generate.base import GenerationConfig, Generator
from rag.pipeline.budget import EXPLANATORY
from rag.pipeline.extract import EXTRACT_SENTENCES, best_span
from rag.pipeline.focus import Focus
from rag.pipeline.prompt import EXTRACT_SYSTEM, Passage, PromptBuilder
from rag.pipeline.retro import check_context

ANSWER_MODES = ("reader", "auto", "passages", "focus", "extract")
FOCUS_SENTENCES = 3  # best sentences shown (tune split: 3 sentences beat whole passages, see focus)
# Relevance (MaxSim of the question over the best sentence) under which nothing retrieved is
# taken to answer the question. Calibrated with ``rag eval qa --part calibrate`` (60 questions,
# half unanswerable, of the first half of the SQuAD 2.0 dev-half articles: balanced abstention
# accuracy 0.617); reported on the second half (benchmarks/README.md "Answers").
ABSTAIN_THRESHOLD = 0.669


@dataclass(frozen=True)
class WriteSettings:
    """One request's own settings for the writing model; what is left None keeps the pipeline's.

    ``max_tokens`` can only lower the pipeline's budget (a server's limit stays a limit).
    """

    temperature: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()

    def applied(self, config: GenerationConfig) -> GenerationConfig:
        """``config`` with these settings in it (a new GenerationConfig: it checks the values)."""
        changes: dict = {}
        if self.temperature is not None:
            changes["temperature"] = float(self.temperature)
        if self.stop:
            changes["stop"] = tuple(self.stop)
        if self.max_tokens is not None:
            changes["max_tokens"] = min(self.max_tokens, config.max_tokens)
        return dataclasses.replace(config, **changes) if changes else config


@dataclass(frozen=True)
class AnswerOptions:
    """How one request answers.

    Attributes:
        mode: "reader", "auto", "passages", "focus" or "extract" (see the module docstring).
        tools: the tools the model may call: True (all), False (none) or names.
        abstain: say "cannot answer" when nothing relevant is found or nothing is supported.
        context: how the retrieved text enters the model: "prompt" (numbered in the prompt, written
            as ``mode`` says) or "retro" (through the decoder's chunked cross-attention, with the
            question alone in the prompt; see rag.pipeline.retro). ``mode`` applies to "prompt" only.
        writing: the request's temperature, token budget and stop strings, where a mode writes.
    """

    mode: str = "reader"
    tools: bool | tuple[str, ...] = False
    abstain: bool = True
    context: str = "prompt"
    writing: WriteSettings = WriteSettings()

    def __post_init__(self) -> None:
        if self.mode not in ANSWER_MODES:
            raise InvalidInputError(f"unknown answer mode {self.mode!r}; use one of {', '.join(ANSWER_MODES)}")
        check_context(self.context)
        if not isinstance(self.abstain, bool):
            raise InvalidInputError(f"abstain must be true or false, got {self.abstain!r}")
        tools = self.tools
        if isinstance(tools, list):
            object.__setattr__(self, "tools", tools := tuple(tools))
        if not isinstance(tools, bool) and not (
            isinstance(tools, tuple) and all(isinstance(t, str) and t for t in tools)
        ):
            raise InvalidInputError(f"tools must be true, false or a list of tool names, got {tools!r}")
        if tools and self.context == "retro":
            raise InvalidInputError("tool calls write their results into the prompt: use context 'prompt' with tools")

    def replace(self, **changes) -> AnswerOptions:
        """A copy with the non-None ``changes`` applied (request fields left out keep the defaults)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def resolved_mode(self, question: str, generator: Callable[[], Generator]) -> str:
        """The mode this question is answered in: ``auto`` picked, and ``extract`` only where it can run.

        ``generator`` is called (and so loaded) only where the mode depends on what it can do.
        """
        mode = self.mode
        if mode == "auto":
            mode = "focus" if EXPLANATORY.search(question) else "extract"
        if mode == "extract" and not (model := generator()).supports_constraints:
            if self.mode == "extract":
                raise InvalidInputError(
                    f"answer mode 'extract' needs a generator that scores given replies, which the "
                    f"{model.name} generator does not; use the torch generator or mode 'focus'"
                )
            mode = "focus"
        return mode


# Hears the answer's text as it is generated, piece by piece (the raw text: markers as the model writes them).
# An exception it raises (AnswerCancelled when a client goes away) stops the generation.
TextSink = Callable[[str], None]


class AnswerCancelled(Exception):
    """Raised by a TextSink whose reader went away: the generation stops and the model is free again."""


@dataclass(frozen=True)
class Written:
    """What the generation step wrote: the raw answer (markers as the model wrote them) and its cost."""

    text: str
    prompt_tokens: int
    generated_tokens: int


def write(
    generator: Generator,
    prompt: PromptBuilder,
    question: str,
    mode: str,
    focus: Focus,
    passages: list[Passage],
    config: GenerationConfig,
    on_text: TextSink | None = None,
) -> Written:
    """Generate the answer in ``mode`` ("passages", "focus" or "extract"); ``on_text`` hears it as it comes.

    ``passages`` are those the prompt kept (:meth:`PromptBuilder.fit`), numbered as the answer cites them.
    """
    if mode == "passages":
        messages = prompt.numbered(question, passages)
    else:
        top = focus.top(EXTRACT_SENTENCES if mode == "extract" else FOCUS_SENTENCES)
        pairs = [(s.passage, s.text) for s in top]
        if mode == "extract":
            messages = prompt.focused(question, pairs, EXTRACT_SYSTEM)
            span = best_span(generator, messages, question, top)
            if span is not None:  # no candidate (every word is in the question): write freely instead
                used = sum(generator.count_tokens(m.content) for m in messages)  # nothing is generated
                text = f"{span.text} [{span.passage}]"
                if on_text is not None:
                    on_text(text)
                return Written(text, used, 0)
        messages = prompt.focused(question, pairs)
    if on_text is None:
        result = generator.generate(messages, config)
    else:
        result = generator.generate_streaming(messages, config, on_text)
    return Written(result.text, result.prompt_tokens, result.generated_tokens)


# What an abstaining answer says, by reason: one short sentence. The question is not repeated (the asker has it)
# and the closest passages are not announced (a client shows them, or not, as it lays out the answer).
ABSTENTIONS = {
    "no_relevant_passage": "I cannot answer this from the documents: none of the passages I found is relevant enough.",
    "unsupported": "I cannot answer this from the documents: the passages I found do not support an answer.",
    "no_passages": "I cannot answer this from the documents: the collection has no passages to search.",
    "no_answer_found": "I cannot answer this from the documents: none of the passages I found states an answer.",
}
ABSTAIN_REASONS = tuple(ABSTENTIONS)


def abstention_message(reason: str) -> str:
    """What an abstaining answer says: that it cannot answer and why, once."""
    return ABSTENTIONS[reason]
