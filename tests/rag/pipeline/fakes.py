"""Deterministic stand-ins for the stores and models the query stages call (named as fakes: no real model)."""

from __future__ import annotations

import numpy as np

from rag.generate.base import GenerationResult, Generator
from rag.store import Collection, StoredChunk

COLLECTION = Collection(1, "docs", "Flat", "cosine", 4, "fake")


def chunk(chunk_id: int, score: float = 0.0, text: str | None = None) -> StoredChunk:
    text = text or f"chunk {chunk_id}"
    return StoredChunk(chunk_id, 1, "a.txt", None, chunk_id, text, None, 0, len(text), (), score)


class FakeCatalog:
    def get_collection(self, name: str) -> Collection:
        from indexes.errors import NotFoundError

        if name != COLLECTION.name:
            raise NotFoundError(f"collection {name!r} does not exist")
        return COLLECTION


class FakeStore:
    """Dense results and BM25 results fixed in advance; records the calls."""

    def __init__(self, dense: list[StoredChunk], lexical: list[StoredChunk]) -> None:
        self.catalog = FakeCatalog()
        self.dense, self.lexical = dense, lexical
        self.vectors: list[np.ndarray] = []
        self.texts: list[str] = []

    def search(self, collection, vectors, k):
        assert collection is COLLECTION
        self.vectors.append(vectors)
        return [self.dense[:k]]

    def search_text(self, collection, queries, k):
        assert collection is COLLECTION
        self.texts.extend(queries)
        return [self.lexical[:k]]


class FakeEmbedder:
    """A unit vector per text from a hash of it (a fake: equal texts embed equally)."""

    dim = 4

    def embed_queries(self, texts):
        out = []
        for t in texts:
            v = np.random.default_rng(abs(hash(t)) % 2**32).standard_normal(self.dim).astype(np.float32)
            out.append(v / np.linalg.norm(v))
        return np.stack(out)

    def embed_query(self, text):
        return self.embed_queries([text])[0]


class FakeGenerator(Generator):
    """Echoes a fixed reply and records the messages (a fake generator)."""

    def __init__(self, reply: str = "A hypothetical passage.") -> None:
        self.reply = reply
        self.calls: list = []

    def generate(self, messages, config=None):
        self.calls.append((messages, config))
        return GenerationResult(self.reply, 10, 5, "stop")

    def count_tokens(self, text):
        return len(text.split())


class FakeReranker:
    """Scores a passage by how many of the query's words it holds (a fake reranker)."""

    name = "fake"

    def score(self, query, passages):
        words = set(query.lower().split())
        return np.array([len(words & set(p.lower().split())) for p in passages], dtype=np.float32)
