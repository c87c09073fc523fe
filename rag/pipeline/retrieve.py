"""Retrievers: dense (MiniLM vectors), BM25 (the collection's lexical index), and their fusion.

Every retriever is a callable ``(query, depth) -> Retrieval`` (:class:`Retriever`):
at most ``depth`` hits best first, with the time each of its stages took. The
hybrid retriever runs the other two and fuses their rankings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from indexes import SearchResult
from ingest.embed import Embedder
from rag.pipeline.fusion import CONVEX_DENSE_WEIGHT, convex_fusion, reciprocal_rank_fusion
from rag.pipeline.hyde import HyDE, embed_with_hyde
from rag.pipeline.request import Hit, Query, Retrieval, Timings
from rag.store import Store


class Retriever(Protocol):
    def __call__(self, query: Query, depth: int) -> Retrieval:
        """At most ``depth`` hits for ``query``, best first."""


@dataclass(frozen=True)
class QueryEncoder:
    """The dense query vector: the question's embedding, or with ``hyde`` its HyDE mean.

    Args:
        embedder: returns the embedder of a collection's ``embed_model`` (loaded on first use):
            queries are embedded as the collection's passages were.
        hyde: writes the hypothetical passages.
    """

    embedder: Callable[[str], Embedder]
    hyde: HyDE

    def __call__(self, query: Query) -> tuple[np.ndarray, Timings]:
        timings = Timings()
        passages: list[str] = []
        if query.options.hyde:
            with timings.stage("hyde"):
                passages = self.hyde(query.text)
        embedder = self.embedder(query.collection.embed_model)
        with timings.stage("embed"):
            vector = embed_with_hyde(embedder, query.text, passages) if passages else embedder.embed_query(query.text)
        return vector, timings


@dataclass(frozen=True)
class DenseRetriever:
    """Nearest chunks to the query vector in the collection's vector index."""

    store: Store
    encode: QueryEncoder

    def __call__(self, query: Query, depth: int) -> Retrieval:
        vector, timings = self.encode(query)
        with timings.stage("dense"):
            result = self.store.search_ids(query.collection, vector[None, :], depth)
        return Retrieval([Hit(i, s, dense=s) for i, s in ranked(result)], timings)


@dataclass(frozen=True)
class LexicalRetriever:
    """Best BM25 matches in the collection's lexical index (kept in step with its vectors)."""

    store: Store

    def __call__(self, query: Query, depth: int) -> Retrieval:
        timings = Timings()
        with timings.stage("bm25"):
            result = self.store.search_text_ids(query.collection, [query.text], depth)
        return Retrieval([Hit(i, s, bm25=s) for i, s in ranked(result)], timings)


@dataclass(frozen=True)
class HybridRetriever:
    """Dense and BM25 retrieval, fused by reciprocal rank (``rrf``) or a convex score combination."""

    dense: Retriever
    lexical: Retriever

    def __call__(self, query: Query, depth: int) -> Retrieval:
        dense = self.dense(query, depth)
        lexical = self.lexical(query, depth)
        timings = Timings().merge(dense.timings).merge(lexical.timings)
        with timings.stage("fuse"):
            hits = fuse(query.options.fusion, dense.hits, lexical.hits)[:depth]
        return Retrieval(hits, timings)


def ranked(result: SearchResult) -> list[tuple[int, float]]:
    """The (id, score) pairs of a one-query search result, best first, padding dropped."""
    return [(int(i), float(s)) for i, s in zip(result.ids[0], result.scores[0]) if i >= 0]


def fuse(method: str, dense: list[Hit], lexical: list[Hit]) -> list[Hit]:
    """One ranking from the dense and BM25 hits, each hit keeping both stage scores."""
    rankings = [[(h.chunk_id, h.score) for h in hits] for hits in (dense, lexical)]
    if method == "rrf":
        fused = reciprocal_rank_fusion(rankings)
    elif method == "convex":
        fused = convex_fusion(rankings, (CONVEX_DENSE_WEIGHT, 1.0 - CONVEX_DENSE_WEIGHT))
    else:
        raise ValueError(f"{method!r} is not a fusion of two rankings")
    dense_score = {h.chunk_id: h.score for h in dense}
    bm25_score = {h.chunk_id: h.score for h in lexical}
    return [Hit(cid, score, dense=dense_score.get(cid), bm25=bm25_score.get(cid)) for cid, score in fused]


@dataclass(frozen=True)
class FetchChunks:
    """Read the catalog rows of the hits a request keeps, in one read; hits without a row are dropped.

    A row can be missing only for a vector whose upload never committed (the store
    removes those at start-up), so a response may then hold fewer than ``k`` hits.
    """

    store: Store

    def __call__(self, retrieval: Retrieval) -> Retrieval:
        timings = Timings().merge(retrieval.timings)
        with timings.stage("fetch"):
            ids = np.array([[h.chunk_id for h in retrieval.hits]], dtype=np.int64).reshape(1, -1)
            scores = np.array([[h.score for h in retrieval.hits]], dtype=np.float32).reshape(1, -1)
            rows = {c.chunk_id: c for c in self.store.stored_chunks(SearchResult(ids, scores))[0]}
        hits = [replace(h, chunk=rows[h.chunk_id]) for h in retrieval.hits if h.chunk_id in rows]
        return Retrieval(hits, timings)
