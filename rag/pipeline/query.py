"""Query path: embed the question, retrieve chunks, prompt the generator, cite.

Each stage is a small callable; :class:`QueryPipeline` composes them. Later
stages (HyDE, hybrid search, reranking, tools, RETRO fusion) slot in between
retrieval and generation without changing the callers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from indexes.errors import InvalidInputError
from ingest.embed import Embedder
from rag.generate.base import Generator
from rag.pipeline.budget import answer_config, answer_generation
from rag.pipeline.citations import Citation, Citer
from rag.pipeline.prompt import Passage, PromptBuilder
from rag.store import Store, StoredChunk

MAX_K = 100
MAX_QUERY_CHARS = 4000


@dataclass
class Answer:
    answer: str
    citations: list[Citation]
    passages: list[Passage]
    timings: dict = field(default_factory=dict)  # seconds: embed, retrieve, generate
    usage: dict = field(default_factory=dict)  # prompt_tokens, generated_tokens


def check_query(text: str, k: int, what: str = "query") -> str:
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError(f"{what} is empty; send a non-empty string")
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidInputError(f"{what} is {len(text)} characters; the limit is {MAX_QUERY_CHARS}")
    if not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise InvalidInputError(f"k must be an integer between 1 and {MAX_K}, got {k!r}")
    return text.strip()


class Retriever:
    """Dense retrieval: the query's MiniLM embedding against the collection's index."""

    def __init__(self, store: Store, embedder: Embedder) -> None:
        self.store = store
        self.embedder = embedder

    def __call__(self, collection: str, query: str, k: int, timings: dict | None = None) -> list[StoredChunk]:
        coll = self.store.catalog.get_collection(collection)
        t0 = time.perf_counter()
        vec = self.embedder.embed_query(query)
        t1 = time.perf_counter()
        hits = self.store.search(coll, vec[None, :], k)[0]
        if timings is not None:
            timings["embed"] = t1 - t0
            timings["retrieve"] = time.perf_counter() - t1
        return hits


class QueryPipeline:
    def __init__(
        self, retriever: Retriever, generator: Generator, max_answer_tokens: int = 256, max_context_tokens: int = 1600
    ) -> None:
        self.retriever = retriever
        self.generator = generator
        self.prompt = PromptBuilder(generator.count_tokens, max_context_tokens)
        self.citer = Citer()
        self.generation = answer_generation(max_answer_tokens)  # the most an answer takes; see ask

    def search(self, collection: str, query: str, k: int = 10) -> list[StoredChunk]:
        query = check_query(query, k)
        return self.retriever(collection, query, k)

    def ask(self, collection: str, question: str, k: int = 5) -> Answer:
        question = check_query(question, k, "question")
        timings: dict = {}
        chunks = self.retriever(collection, question, k, timings)
        messages, passages = self.prompt(question, chunks)
        t0 = time.perf_counter()
        result = self.generator.generate(messages, answer_config(self.generation, question))  # short questions: fewer
        timings["generate"] = time.perf_counter() - t0
        text, citations = self.citer(result.text, passages)
        usage = {"prompt_tokens": result.prompt_tokens, "generated_tokens": result.generated_tokens}
        return Answer(text, citations, passages, timings, usage)
