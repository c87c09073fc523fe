"""The typed records of answering: the prepared question that goes in, the stages it reports, the answer out.

A :class:`Question` is a request checked once at the boundary
(:meth:`rag.pipeline.query.QueryPipeline.prepare`): its collection resolved, its
options checked and its tools selected, so a bad request fails before any work
(and, over REST, before anything is streamed) and no stage checks it again.

While it answers, the pipeline tells a :data:`StageSink` each :class:`Stage` as it
starts, in plain words for a person waiting ("searching 57 documents"); the
streamed REST answer sends them as ``stage`` events before its first token.

The :class:`Answer` is plain typed data; its JSON shape belongs to whoever sends
it (the REST API converts it in ``api/schemas.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from rag.pipeline.answer import AnswerOptions, abstention_message
from rag.pipeline.citations import Citation
from rag.pipeline.prompt import Passage
from rag.pipeline.reading import SpanAnswer
from rag.pipeline.request import Query, Retrieval, Timings
from rag.pipeline.support import SentenceSupport
from rag.pipeline.tool_calls import ToolCall, ToolSelection

# What an answer reports as it goes, in the order they can come (each only where it runs): retrieval, a tool
# call, the reader (mode "reader"), the generator writing, the support check of the written sentences.
STAGE_NAMES = ("search", "tools", "read", "write", "check")
TOOL_WORDS = {"sql": "SQL", "calculator": "calculator", "today": "date", "date_add": "date", "days_between": "date"}


@dataclass(frozen=True)
class Question:
    """A checked question, ready to answer: the query, how to answer it, and the tools it may call."""

    query: Query
    options: AnswerOptions
    tools: ToolSelection


@dataclass(frozen=True)
class Stage:
    """A stage of an answer as it starts: ``name`` one of :data:`STAGE_NAMES`, ``message`` in plain words."""

    name: str
    message: str

    def __post_init__(self) -> None:
        assert self.name in STAGE_NAMES, self.name


# Hears each stage of an answer as it starts (on the answering thread, before that stage's work).
StageSink = Callable[[Stage], None]


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def searching(documents: int) -> Stage:
    return Stage("search", f"searching {_count(documents, 'document')}")


def running(tool: str) -> Stage:
    return Stage("tools", f"running the {TOOL_WORDS.get(tool, tool)} tool")


def reading(passages: int) -> Stage:
    return Stage("read", f"reading {_count(passages, 'passage')}")


WRITING = Stage("write", "writing the answer")
CHECKING = Stage("check", "checking the answer against the passages")


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    generated_tokens: int


@dataclass
class Answer:
    """A checked answer.

    Attributes:
        answer: the text, with its [n] markers (corrected where a sentence cited the wrong passage).
        citations: the passages the markers cite.
        passages: every passage the answer was written from (tool results included);
            when it abstains, the closest passages found.
        sentences: each sentence with its support (empty when it abstains).
        abstained: the platform declined to answer; ``abstain_reason`` says why.
        tool_calls: the tools called, with their arguments and results.
        mode: the answer mode used (see rag.pipeline.answer); "free" with context "retro".
        context: how the passages entered the model, "prompt" or "retro".
        relevance: the best sentence's relevance to the question (what abstention compares in the
            generating modes); None in mode "reader".
        span: mode "reader": the span that answers, where it is and the sentence that holds it
            (also when it abstains, as the closest candidate); None in the other modes.
    """

    answer: str
    citations: list[Citation]
    passages: list[Passage]
    timings: Timings = field(default_factory=Timings)
    usage: Usage = Usage(0, 0)
    sentences: list[SentenceSupport] = field(default_factory=list)
    abstained: bool = False
    abstain_reason: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    mode: str = "passages"
    relevance: float | None = None
    context: str = "prompt"
    span: SpanAnswer | None = None


def abstention(
    passages: list[Passage],
    timings: Timings,
    usage: Usage,
    reason: str,
    relevance: float | None,
    calls: list[ToolCall],
    mode: str,
    context: str = "prompt",
) -> Answer:
    """An answer that abstains: one sentence saying why, and the closest passages found."""
    return Answer(
        abstention_message(reason),
        [],
        passages,
        timings,
        usage,
        abstained=True,
        abstain_reason=reason,
        tool_calls=calls,
        mode=mode,
        relevance=relevance,
        context=context,
    )


@dataclass
class Listeners:
    """Who hears each search and each answer the pipeline completes (the API's metrics, say), whichever door
    the request came in by (REST, a stream, the OpenAI routes, MCP). Called on the thread that did the work,
    after it is done; a listener must be quick and must not raise."""

    searched: list[Callable[[Retrieval], None]] = field(default_factory=list)
    answered: list[Callable[[Answer], None]] = field(default_factory=list)
