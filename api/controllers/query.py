"""Search and question answering over a collection."""

from __future__ import annotations

import msgspec
from litestar import Controller, post
from litestar.datastructures import State

from api.schemas import Hit, QueryRequest, QueryResponse, RetrievalFields, SearchRequest, SearchResponse
from rag.pipeline import Answer, AnswerOptions, SearchOptions
from rag.pipeline import Hit as PipelineHit
from rag.platform import Platform


def options(platform: Platform, data: RetrievalFields) -> SearchOptions:
    """The request's retrieval switches over the server's defaults (checked: a bad value is a 400)."""
    return platform.query_pipeline.defaults.replace(
        fusion=data.fusion, hyde=data.hyde, rerank=data.rerank, candidates=data.candidates
    )


def hit_out(h: PipelineHit) -> Hit:
    c = h.chunk
    return Hit(
        chunk_id=c.chunk_id,
        document_id=c.document_id,
        filename=c.filename,
        page=c.page,
        char_start=c.char_start,
        char_end=c.char_end,
        heading_path=list(c.heading_path),
        text=c.text,
        score=h.score,
        dense_score=h.dense,
        bm25_score=h.bm25,
        rerank_score=h.rerank,
    )


class QueryController(Controller):
    path = "/v1/collections/{name:str}"
    tags = ["query"]

    @post(
        "/search",
        operation_id="search",
        status_code=200,
        sync_to_thread=True,
        summary="Passages most relevant to a query (dense + BM25 fused by default; HyDE and reranking on request)",
    )
    def search(self, name: str, data: SearchRequest, state: State) -> SearchResponse:
        platform: Platform = state.platform
        result = platform.query_pipeline.search(name, data.query, data.k, options(platform, data))
        return SearchResponse(
            collection=name, results=[hit_out(h) for h in result.hits], timings=result.timings.as_dict()
        )

    @post(
        "/query",
        operation_id="query",
        status_code=200,
        sync_to_thread=True,
        summary="Answer a question from the collection, with citations",
    )
    def query(self, name: str, data: QueryRequest, state: State) -> QueryResponse:
        platform: Platform = state.platform
        how = AnswerOptions().replace(mode=data.mode, tools=data.tools, abstain=data.abstain, context=data.context)
        answer = platform.query_pipeline.ask(name, data.question, data.k, options(platform, data), how)
        return query_response(answer)


def query_response(answer: Answer) -> QueryResponse:
    # the pipeline's JSON form has the response's keys (extra passage fields are dropped)
    return msgspec.convert(answer.as_dict(), QueryResponse)
