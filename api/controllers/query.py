"""Search and question answering over a collection."""

from __future__ import annotations

from litestar import Controller, post
from litestar.datastructures import State

from api.schemas import CitationOut, Hit, QueryRequest, QueryResponse, SearchRequest, SearchResponse
from rag.pipeline.query import check_query
from rag.platform import Platform


class QueryController(Controller):
    path = "/v1/collections/{name:str}"
    tags = ["query"]

    @post(
        "/search",
        operation_id="search",
        status_code=200,
        sync_to_thread=True,
        summary="Passages most similar to a query",
    )
    def search(self, name: str, data: SearchRequest, state: State) -> SearchResponse:
        platform: Platform = state.platform
        platform.store.catalog.get_collection(name)
        hits = platform.retriever(name, check_query(data.query, data.k), data.k)
        return SearchResponse(
            collection=name,
            results=[
                Hit(
                    h.chunk_id,
                    h.document_id,
                    h.filename,
                    h.page,
                    h.char_start,
                    h.char_end,
                    list(h.heading_path),
                    h.text,
                    h.score,
                )
                for h in hits
            ],
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
        platform.store.catalog.get_collection(name)
        check_query(data.question, data.k, "question")  # before query_pipeline loads the model on first use
        answer = platform.query_pipeline.ask(name, data.question, data.k)
        return QueryResponse(
            answer=answer.answer,
            citations=[CitationOut(**c.__dict__) for c in answer.citations],
            timings=answer.timings,
            usage=answer.usage,
        )
