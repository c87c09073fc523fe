"""The typed values that travel through the query path: a checked request, hits, and stage timings.

A request is checked once, at the boundary (:meth:`rag.pipeline.query.QueryPipeline.query`),
and becomes a :class:`Query` that names its resolved collection; stages after
that trust it. Each stage returns its result with a :class:`Timings` value, and
the pipeline adds them up: nothing is passed in to be filled.

A query may be long (a pasted paragraph, a whole argument): each model reads as
much of it as it can, as it would of a passage. The embedder reads its first 256
tokens, BM25 every term (at most 1,024 distinct ones, the weightiest:
:data:`indexes.lexical.bm25.MAX_QUERY_TERMS`), the cross-encoder its first 128
tokens and MaxSim its first 256, and a prompt :func:`question_head`. Only past
:data:`MAX_QUERY_CHARS` is it refused.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from core.errors import InvalidInputError
from ingest.errors import PayloadTooLargeError
from rag.store import Collection, StoredChunk

MAX_K = 100
# A query's hard limit: about 25,000 words, far beyond what any model here reads of it, and
# well inside the 1 MiB JSON body. Longer text is a document: upload it.
MAX_QUERY_CHARS = 100_000
# Tokens of the question in a prompt: the passages' 1,600, the answer's 256 and the template's
# ~60 leave about 130 of the generator's 2,048-token context.
PROMPT_QUESTION_TOKENS = 128
CHARS_PER_TOKEN_BOUND = 16  # no realistic text averages more characters per token (English: about 4)
MAX_CANDIDATES = 500
FUSIONS = ("rrf", "convex", "dense", "bm25")


@dataclass(frozen=True)
class SearchOptions:
    """How one request retrieves: each stage switchable per request.

    Attributes:
        fusion: ``"convex"`` (weighted sum of min-max normalised dense and BM25 scores,
            the default: the better fusion on the SciFact *train* queries, 0.729 vs 0.720
            nDCG@10, see benchmarks/README.md), ``"rrf"`` (reciprocal-rank fusion),
            ``"dense"`` or ``"bm25"`` alone.
        hyde: write a hypothetical passage with the local model and search with its
            embedding averaged with the question's (dense side only).
        rerank: name of the reranker that re-scores the candidates, or None for none.
        candidates: how many chunks each retriever returns before fusion and
            reranking; the response keeps the best ``k`` of them.
    """

    fusion: str = "convex"
    hyde: bool = False
    rerank: str | None = None
    candidates: int = 50

    def __post_init__(self) -> None:
        if self.fusion not in FUSIONS:
            raise InvalidInputError(f"unknown fusion {self.fusion!r}; use one of {', '.join(FUSIONS)}")
        if not isinstance(self.hyde, bool):
            raise InvalidInputError(f"hyde must be true or false, got {self.hyde!r}")
        if self.hyde and self.fusion == "bm25":
            raise InvalidInputError("hyde changes the dense query: use it with fusion rrf, convex or dense, not bm25")
        if not isinstance(self.candidates, int) or isinstance(self.candidates, bool):
            raise InvalidInputError(f"candidates must be an integer, got {self.candidates!r}")
        if not 1 <= self.candidates <= MAX_CANDIDATES:
            raise InvalidInputError(f"candidates must be between 1 and {MAX_CANDIDATES}, got {self.candidates}")
        if self.rerank is not None:
            from rag.rerank.base import RERANKERS

            if self.rerank not in RERANKERS:
                raise InvalidInputError(f"unknown reranker {self.rerank!r}; use one of {', '.join(RERANKERS)}")

    def replace(self, **changes) -> SearchOptions:
        """A copy with the non-None ``changes`` applied; ``rerank`` may be true, false or a name."""
        changes = {name: value for name, value in changes.items() if value is not None}
        if "rerank" in changes:
            changes["rerank"] = reranker_name(changes["rerank"])
        return dataclasses.replace(self, **changes)


def reranker_name(value: bool | str | None) -> str | None:
    """``true`` means the default reranker, ``false``/None none, a string names one."""
    if value is None or value is False:
        return None
    if value is True:
        from rag.rerank.base import DEFAULT_RERANKER

        return DEFAULT_RERANKER
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise InvalidInputError(f"rerank must be true, false or a reranker name, got {value!r}")


def check_text(text: str, what: str = "query") -> str:
    """The stripped text of a query or question; empty text is refused, and text past the hard limit too.

    Raises:
        InvalidInputError: not a string, or only whitespace.
        PayloadTooLargeError: longer than :data:`MAX_QUERY_CHARS` (an HTTP 413).
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError(f"{what} is empty; send a non-empty string")
    if len(text) > MAX_QUERY_CHARS:
        raise PayloadTooLargeError(
            f"{what} is {len(text):,} characters; the limit is {MAX_QUERY_CHARS:,}: send its first "
            f"{MAX_QUERY_CHARS:,} characters, or upload the text as a document"
        )
    return text.strip()


def question_head(text: str, count_tokens: Callable[[str], int], max_tokens: int = PROMPT_QUESTION_TOKENS) -> str:
    """The longest beginning of ``text`` that takes at most ``max_tokens`` tokens, ending at a word where one does.

    What a generator's prompt holds of a long question: its context holds the passages
    and the answer too. The whole text when it fits.

    Args:
        text: the question.
        count_tokens: the generator's token counter.
        max_tokens: the question's budget in the prompt.
    """
    head = text[: max_tokens * CHARS_PER_TOKEN_BOUND]  # a longer beginning could not fit: tokenise no more
    if head == text and count_tokens(text) <= max_tokens:
        return text
    ends = [m.end() for m in re.finditer(r"\S+", head)]
    if head != text and ends and ends[-1] == len(head):
        ends.pop()  # the last word goes on past the cut
    fits = lambda end: count_tokens(head[:end]) <= max_tokens  # noqa: E731
    end = _last(ends, fits)
    if end is None:  # the first word alone is too long (no spaces: an identifier, CJK text): cut inside it
        end = _last(range(1, len(head) + 1), fits) or 0
    return head[:end]


def _last(positions, fits: Callable[[int], bool]) -> int | None:
    """The last of the ascending ``positions`` that ``fits`` (which holds for a prefix of them), or None."""
    lo, hi = 0, len(positions)  # positions[:lo] fit, positions[hi:] do not
    while lo < hi:
        mid = (lo + hi) // 2
        if fits(positions[mid]):
            lo = mid + 1
        else:
            hi = mid
    return positions[lo - 1] if lo else None


def check_k(k: int) -> int:
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise InvalidInputError(f"k must be an integer between 1 and {MAX_K}, got {k!r}")
    return k


@dataclass(frozen=True)
class Query:
    """A checked request: the resolved collection, the stripped text, how many results, the options."""

    collection: Collection
    text: str
    k: int
    options: SearchOptions = SearchOptions()

    @property
    def depth(self) -> int:
        """How many candidates the retrievers return (at least ``k``)."""
        return max(self.k, self.options.candidates)


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk: its final score, the score each stage gave it (None: not scored there),
    and its catalog row once the pipeline has read it (retrievers return ids and scores only, so
    a request reads the catalog once, for the hits it keeps)."""

    chunk_id: int
    score: float
    dense: float | None = None
    bm25: float | None = None
    rerank: float | None = None
    chunk: StoredChunk | None = None


STAGES = (
    "hyde",
    "embed",
    "dense",
    "bm25",
    "fuse",
    "fetch",
    "rerank",
    "focus",
    "tools",
    "read",
    "fusion",
    "generate",
    "support",
)


@dataclass
class Timings:
    """Seconds spent in each stage of one request; None for a stage that did not run."""

    hyde: float | None = None
    embed: float | None = None
    dense: float | None = None
    bm25: float | None = None
    fuse: float | None = None
    fetch: float | None = None  # reading the kept hits' rows from the catalog
    rerank: float | None = None
    focus: float | None = None  # ranking the passages' sentences against the question
    tools: float | None = None  # choosing, writing and running tool calls
    read: float | None = None  # mode "reader": the span reader over the passages
    fusion: float | None = None  # context "retro": choosing and encoding the neighbours (not counted in generate)
    generate: float | None = None
    support: float | None = None  # checking each answer sentence against the passages

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the block and add its seconds to ``name``."""
        if name not in STAGES:
            raise ValueError(f"unknown stage {name!r}")
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - t0)

    def add(self, name: str, seconds: float) -> None:
        setattr(self, name, (getattr(self, name) or 0.0) + seconds)

    def merge(self, other: Timings) -> Timings:
        """Add ``other``'s stages into this one; returns self."""
        for name in STAGES:
            seconds = getattr(other, name)
            if seconds is not None:
                self.add(name, seconds)
        return self

    def as_dict(self) -> dict[str, float]:
        """The stages that ran, in pipeline order, in seconds."""
        return {name: getattr(self, name) for name in STAGES if getattr(self, name) is not None}

    @property
    def total(self) -> float:
        return sum(self.as_dict().values())


@dataclass(frozen=True)
class Retrieval:
    """What a retriever (or the whole search) returns: hits best first, and the time each stage took."""

    hits: list[Hit]
    timings: Timings
