"""Deterministic stand-ins for the stores and models the query stages call (named as fakes: no real model)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from indexes import SearchResult
from rag.generate.base import GenerationResult, Generator
from rag.pipeline.tool_calls import CollectionTools
from rag.store import Collection, StoredChunk
from rag.store.tables import StoredTable
from rag.tools import default_registry

COLLECTION = Collection(1, "docs", "Flat", "cosine", 4, "fake")


def chunk(chunk_id: int, score: float = 0.0, text: str | None = None) -> StoredChunk:
    text = text or f"chunk {chunk_id}"
    return StoredChunk(chunk_id, 1, "a.txt", None, chunk_id, text, None, 0, len(text), (), score)


class FakeCatalog:
    def __init__(self, documents: int = 0) -> None:
        self.documents = documents

    def count(self, table: str, collection_id: int) -> int:
        assert table == "documents" and collection_id == COLLECTION.id
        return self.documents

    def get_collection(self, name: str) -> Collection:
        from core.errors import NotFoundError

        if name != COLLECTION.name:
            raise NotFoundError(f"collection {name!r} does not exist")
        return COLLECTION


class FakeStore:
    """Dense results and BM25 results fixed in advance; records the calls."""

    def __init__(self, dense: list[StoredChunk], lexical: list[StoredChunk]) -> None:
        self.catalog = FakeCatalog(len({c.document_id for c in dense + lexical}))
        self.dense, self.lexical = dense, lexical
        self.vectors: list[np.ndarray] = []
        self.texts: list[str] = []

        self.fetched: list[list[int]] = []

    def search_ids(self, collection, vectors, k):
        assert collection is COLLECTION
        self.vectors.append(vectors)
        return _result(self.dense[:k], k)

    def search_text_ids(self, collection, queries, k):
        assert collection is COLLECTION
        self.texts.extend(queries)
        return _result(self.lexical[:k], k)

    def tables(self, collection):
        return []  # no stored tables: the sql tool says so when called

    def stored_chunks(self, result):
        rows = {c.chunk_id: c for c in self.dense + self.lexical}
        ids = [int(i) for i in result.ids[0] if i >= 0]
        self.fetched.append(ids)
        return [[dataclasses.replace(rows[i], score=float(s)) for i, s in zip(ids, result.scores[0]) if i in rows]]


def _result(chunks: list[StoredChunk], k: int) -> SearchResult:
    ids = np.full((1, k), -1, np.int64)
    scores = np.full((1, k), -np.inf, np.float32)
    ids[0, : len(chunks)] = [c.chunk_id for c in chunks]
    scores[0, : len(chunks)] = [c.score for c in chunks]
    return SearchResult(ids, scores)


class FakeEmbedder:
    """A unit vector per text from a hash of it (a fake: equal texts embed equally)."""

    dim = 4
    model_name = "fake-hash-embedder"

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


# A grant's expenses (issue 31): SUM(amount_gbp) = 253.64, of which travel 159.90.
GRANT_ROWS = [
    ("2024-03-02", "travel", "Train to the field station", 48.20),
    ("2024-03-05", "equipment", "Binocular strap", 12.99),
    ("2024-03-09", "travel", "Ferry to the island", 36.50),
    ("2024-03-14", "printing", "Survey forms", 22.45),
    ("2024-03-20", "meals", "Volunteer lunch", 58.30),
    ("2024-03-28", "travel", "Taxi from the harbour", 75.20),
]


def grant_tables(folder: Path, document_id: int) -> CollectionTools:
    """The tools of a collection whose one table, ``grant_expenses``, came from document ``document_id``."""
    path = folder / "grant_expenses.parquet"
    date, category, description, amount = zip(*GRANT_ROWS)
    pq.write_table(
        pa.table({"date": date, "category": category, "description": description, "amount_gbp": amount}), path
    )
    table = StoredTable("grant_expenses", path, document_id, "grant_expenses.csv", 0, 300)
    return CollectionTools(default_registry({"grant_expenses": path}), {"grant_expenses": table})
