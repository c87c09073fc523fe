"""Retrievers: dense (MiniLM vectors), BM25 (the collection's lexical index), and their fusion.

Every retriever is a callable ``(query, depth) -> Retrieval`` (:class:`Retriever`):
at most ``depth`` hits best first, with the time each of its stages took. The
hybrid retriever runs the other two and fuses their rankings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

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
        embedder: returns the embedder (loaded on first use).
        hyde: writes the hypothetical passages.
    """

    embedder: Callable[[], Embedder]
    hyde: HyDE

    def __call__(self, query: Query) -> tuple[np.ndarray, Timings]:
        timings = Timings()
        passages: list[str] = []
        if query.options.hyde:
            with timings.stage("hyde"):
                passages = self.hyde(query.text)
        embedder = self.embedder()
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
            chunks = self.store.search(query.collection, vector[None, :], depth)[0]
        return Retrieval([Hit(c, c.score, dense=c.score) for c in chunks], timings)


@dataclass(frozen=True)
class LexicalRetriever:
    """Best BM25 matches in the collection's lexical index (kept in step with its vectors)."""

    store: Store

    def __call__(self, query: Query, depth: int) -> Retrieval:
        timings = Timings()
        with timings.stage("bm25"):
            chunks = self.store.search_text(query.collection, [query.text], depth)[0]
        return Retrieval([Hit(c, c.score, bm25=c.score) for c in chunks], timings)


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


def fuse(method: str, dense: list[Hit], lexical: list[Hit]) -> list[Hit]:
    """One ranking from the dense and BM25 hits, each hit keeping both stage scores."""
    rankings = [[(h.chunk.chunk_id, h.score) for h in hits] for hits in (dense, lexical)]
    if method == "rrf":
        fused = reciprocal_rank_fusion(rankings)
    elif method == "convex":
        fused = convex_fusion(rankings, (CONVEX_DENSE_WEIGHT, 1.0 - CONVEX_DENSE_WEIGHT))
    else:
        raise ValueError(f"{method!r} is not a fusion of two rankings")
    by_id = {h.chunk.chunk_id: h for h in lexical}
    by_id.update({h.chunk.chunk_id: h for h in dense})
    dense_score = {h.chunk.chunk_id: h.score for h in dense}
    bm25_score = {h.chunk.chunk_id: h.score for h in lexical}
    return [Hit(by_id[cid].chunk, score, dense=dense_score.get(cid), bm25=bm25_score.get(cid)) for cid, score in fused]
