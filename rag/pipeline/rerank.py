"""Reranking: a model re-scores the retrieved candidates and reorders them.

The reranker sees the query and each candidate's text together (a cross-encoder,
or late interaction over token embeddings; see :mod:`rag.rerank`), which ranks
better than either first-stage score but costs a model pass per candidate, so
it runs on the fused top ``candidates`` only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from rag.pipeline.request import Hit, Query, Retrieval, Timings
from rag.rerank.base import Reranker


def passage_text(hit: Hit) -> str:
    """What the reranker reads of a chunk: its text (which begins with a repeated table header, if any)."""
    return hit.chunk.text


@dataclass(frozen=True)
class Rerank:
    """Re-score the first ``candidates`` hits with the reranker the query names and reorder them.

    Hits keep their first-stage scores; hits past ``candidates`` (a caller that asks
    for more than it reranks, such as an evaluation of recall@100) follow the
    reranked ones in their first-stage order (their ``score`` is then the first-stage
    one, not comparable with the reranked hits').

    Args:
        reranker: returns the reranker of a name (loaded on first use, once per process).
    """

    reranker: Callable[[str], Reranker]

    def __call__(self, query: Query, retrieval: Retrieval) -> Retrieval:
        name = query.options.rerank
        if name is None or not retrieval.hits:
            return retrieval
        model = self.reranker(name)
        timings = Timings().merge(retrieval.timings)
        head, tail = retrieval.hits[: query.options.candidates], retrieval.hits[query.options.candidates :]
        with timings.stage("rerank"):
            scores = model.score(query.text, [passage_text(h) for h in head])
        rescored = [replace(h, score=float(s), rerank=float(s)) for h, s in zip(head, scores)]
        # stable: candidates the model cannot tell apart keep their fused order
        rescored.sort(key=lambda h: -h.score)
        return Retrieval(rescored + tail, timings)
