"""The typed values that travel through the query path: a checked request, hits, and stage timings.

A request is checked once, at the boundary (:meth:`rag.pipeline.query.QueryPipeline.query`),
and becomes a :class:`Query` that names its resolved collection; stages after
that trust it. Each stage returns its result with a :class:`Timings` value, and
the pipeline adds them up: nothing is passed in to be filled.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from indexes.errors import InvalidInputError
from rag.store import Collection, StoredChunk

MAX_K = 100
MAX_QUERY_CHARS = 4000
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
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError(f"{what} is empty; send a non-empty string")
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidInputError(f"{what} is {len(text)} characters; the limit is {MAX_QUERY_CHARS}")
    return text.strip()


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
