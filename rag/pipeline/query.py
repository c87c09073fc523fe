"""Query path: check the request once, retrieve, rerank, then prompt the generator and cite.

:class:`QueryPipeline` composes small typed stages (:mod:`rag.pipeline.retrieve`,
:mod:`rag.pipeline.rerank`, :mod:`rag.pipeline.prompt`, :mod:`rag.pipeline.citations`).
``/search`` and ``/query`` run the same retrieval; ``ask`` adds generation.
Models load on first use inside the stage that needs them: building the
pipeline loads nothing, and a search without HyDE never loads the generator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from ingest.embed import Embedder
from rag.generate.base import Generator
from rag.pipeline.budget import answer_config, answer_generation
from rag.pipeline.citations import Citation, Citer
from rag.pipeline.hyde import HyDE
from rag.pipeline.prompt import Passage, PromptBuilder
from rag.pipeline.request import Query, Retrieval, SearchOptions, Timings, check_k, check_text
from rag.pipeline.rerank import Rerank
from rag.pipeline.retrieve import (
    DenseRetriever,
    FetchChunks,
    HybridRetriever,
    LexicalRetriever,
    QueryEncoder,
    Retriever,
)
from rag.rerank.base import Reranker, get_reranker
from rag.store import Store


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    generated_tokens: int


@dataclass
class Answer:
    answer: str
    citations: list[Citation]
    passages: list[Passage]
    timings: Timings = field(default_factory=Timings)
    usage: Usage = Usage(0, 0)


class QueryPipeline:
    """Search and question answering over the store's collections.

    Args:
        store: the catalog and each collection's indexes.
        embedder, generator: return the models; called only by a stage that needs one.
        reranker: returns a reranker by name (default: the process-wide registry).
        defaults: the options of a request that leaves them out.
        max_answer_tokens: budget of long answers (short questions get less; see budget).
        max_context_tokens: budget of the numbered passages in the prompt.
    """

    def __init__(
        self,
        store: Store,
        embedder: Callable[[], Embedder],
        generator: Callable[[], Generator],
        reranker: Callable[[str], Reranker] = get_reranker,
        defaults: SearchOptions = SearchOptions(),
        max_answer_tokens: int = 256,
        max_context_tokens: int = 1600,
    ) -> None:
        self.store = store
        self.generator = generator
        self.defaults = defaults
        self.max_context_tokens = max_context_tokens
        self.dense = DenseRetriever(store, QueryEncoder(embedder, HyDE(generator)))
        self.lexical = LexicalRetriever(store)
        self.hybrid = HybridRetriever(self.dense, self.lexical)
        self.fetch = FetchChunks(store)
        self.rerank = Rerank(reranker)
        self.citer = Citer()
        self.generation = answer_generation(max_answer_tokens)  # the most an answer takes; see ask

    # -- the boundary -----------------------------------------------------
    def query(self, collection: str, text: str, k: int, options: SearchOptions | None = None, what="query") -> Query:
        """Check a request and resolve its collection, once; every later stage trusts the result."""
        text = check_text(text, what)
        check_k(k)
        return Query(self.store.catalog.get_collection(collection), text, k, options or self.defaults)

    # -- stages -----------------------------------------------------------
    def retriever(self, query: Query) -> Retriever:
        fusion = query.options.fusion
        return {"dense": self.dense, "bm25": self.lexical}.get(fusion, self.hybrid)

    def retrieve(self, query: Query) -> Retrieval:
        """The best ``query.k`` hits: retrieve ``depth`` candidates, rerank them if asked, keep the top.

        Only the hits that can still be returned have their rows read: the top
        ``k``, or all candidates when the reranker must read their text.
        """
        retrieval = self.retriever(query)(query, query.depth)
        keep = query.depth if query.options.rerank else query.k
        retrieval = self.fetch(Retrieval(retrieval.hits[:keep], retrieval.timings))
        retrieval = self.rerank(query, retrieval)
        return Retrieval(retrieval.hits[: query.k], retrieval.timings)

    def search(self, collection: str, text: str, k: int = 10, options: SearchOptions | None = None) -> Retrieval:
        return self.retrieve(self.query(collection, text, k, options))

    def ask(self, collection: str, question: str, k: int = 5, options: SearchOptions | None = None) -> Answer:
        return self.answer(self.query(collection, question, k, options, what="question"))

    def answer(self, query: Query) -> Answer:
        retrieval = self.retrieve(query)
        timings = retrieval.timings
        messages, passages = self.prompt(query.text, [h.chunk for h in retrieval.hits])
        with timings.stage("generate"):
            # short questions get a smaller budget (see rag.pipeline.budget)
            result = self.generator().generate(messages, answer_config(self.generation, query.text))
        text, citations = self.citer(result.text, passages)
        return Answer(text, citations, passages, timings, Usage(result.prompt_tokens, result.generated_tokens))

    @cached_property
    def prompt(self) -> PromptBuilder:
        return PromptBuilder(self.generator().count_tokens, self.max_context_tokens)
