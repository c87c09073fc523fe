"""Search and question answering over a collection, the answer whole or streamed as Server-Sent Events."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from functools import partial

import anyio
import msgspec
from litestar import Controller, Response, post
from litestar.openapi import ResponseSpec
from litestar.response import ServerSentEvent, ServerSentEventMessage

from api.answers import ANSWERS, Outlet
from api.errors import INTERNAL_MESSAGE, code_for, status_for
from api.openapi import EventStreamOperation, error_responses
from api.schemas import (
    Hit,
    QueryRequest,
    QueryResponse,
    RetrievalFields,
    SearchRequest,
    SearchResponse,
    query_response,
)
from core.errors import RAGError
from rag.pipeline import AnswerCancelled, AnswerOptions, QueryPipeline, Question, SearchOptions, Stage
from rag.pipeline import Hit as PipelineHit
from rag.pipeline.records import STAGE_NAMES

log = logging.getLogger(__name__)

STREAM_EVENTS = ("stage", "token", "tool_calls", "citations", "sentences", "done", "error")
STREAM_DESCRIPTION = f"""With `stream: true` the answer comes as Server-Sent Events (`text/event-stream`):
a `stage` event as each stage starts (`{{"stage": ..., "message": ...}}`: the stage, one of
{", ".join(f"`{name}`" for name in STAGE_NAMES)}, each only where it runs, and what it does in plain words, such as
"searching 57 documents" or "reading 5 passages"; all come before the first token but `check`, the support check
of the written answer), `token` events (`{{"text": ...}}`: the answer as the model writes it, markers included)
while it is generated (mode `reader` writes nothing: one `token` with the span and its marker, none when it
abstains), then `tool_calls`, `citations` and `sentences` (support marks) events with those fields of the
response, and last a `done` event whose data equals the response without `stream` (with `span` in mode
`reader`). An error after the stream started comes as an `error` event in the API's error shape. A client that
goes away stops the generation."""


def options(pipeline: QueryPipeline, data: RetrievalFields) -> SearchOptions:
    """The request's retrieval switches over the server's defaults (checked: a bad value is a 400)."""
    return pipeline.defaults.replace(fusion=data.fusion, hyde=data.hyde, rerank=data.rerank, candidates=data.candidates)


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
        location=c.location,
        ocr_confidence=c.ocr_confidence,
    )


def error_event(exc: BaseException) -> dict:
    """An error inside a stream, in the API's error shape (the status it would have had in ``detail``)."""
    if isinstance(exc, RAGError):
        return {"error": {"code": code_for(exc), "message": str(exc), "detail": {"status": status_for(exc)}}}
    return {"error": {"code": "internal_error", "message": INTERNAL_MESSAGE, "detail": {"status": 500}}}


async def stream_answer(pipeline: QueryPipeline, question: Question) -> AsyncIterator[ServerSentEventMessage]:
    """Answer on a thread of :data:`ANSWERS` (:meth:`~api.answers.AnswerPool.stream`): its stages, its tokens and
    then its parts as events; a client that goes away stops the generation at its next token."""

    def produce(out: Outlet[tuple[str, object]]) -> None:
        def on_stage(stage: Stage) -> None:
            out.send(("stage", {"stage": stage.name, "message": stage.message}))

        try:
            answer = pipeline.answer(question, lambda piece: out.send(("token", {"text": piece})), on_stage)
            body = msgspec.to_builtins(query_response(answer))
            for part in ("tool_calls", "citations", "sentences"):
                out.send((part, {part: body[part]}))
            out.send(("done", body))
        except AnswerCancelled:
            raise
        except Exception as exc:  # the client hears it as an event; the server keeps serving
            if not isinstance(exc, RAGError) or status_for(exc) >= 500:
                log.exception("error while streaming an answer")
            out.send(("error", error_event(exc)))

    async for event, data in ANSWERS.stream(produce, log):
        yield ServerSentEventMessage(data=json.dumps(data), event=event)


ANSWER = ResponseSpec(
    data_container=QueryResponse,
    description="The answer with its citations (or, with stream: true, the same as Server-Sent Events)",
    generate_examples=False,  # an example of ToolCallOut.value would be an object() that JSON cannot hold
)


class QueryController(Controller):
    path = "/v1/collections/{name:str}"
    tags = ["query"]

    @post(
        "/search",
        operation_id="search",
        responses=error_responses(400, 401, 403, 404, 413, 415, 422, 500, 503),
        status_code=200,
        summary="Passages most relevant to a query (dense + BM25 fused by default; HyDE and reranking on request)",
    )
    async def search(self, name: str, data: SearchRequest, query_pipeline: QueryPipeline) -> SearchResponse:
        how = options(query_pipeline, data)
        # HyDE writes with the model: such a search waits for it like an answer, without holding a thread
        run = ANSWERS.run if how.hyde else anyio.to_thread.run_sync
        result = await run(query_pipeline.search, name, data.query, data.k, how)
        return SearchResponse(
            collection=name, results=[hit_out(h) for h in result.hits], timings=result.timings.as_dict()
        )

    @post(
        "/query",
        operation_id="query",
        # The return type is a union Litestar cannot document: the JSON answer is named here.
        responses={**error_responses(400, 401, 403, 404, 413, 415, 422, 500, 503), 200: ANSWER},
        operation_class=partial(EventStreamOperation, events=STREAM_EVENTS),
        status_code=200,
        summary="Answer a question from the collection, with citations (streamed with stream: true)",
        description=STREAM_DESCRIPTION,
    )
    async def query(
        self, name: str, data: QueryRequest, query_pipeline: QueryPipeline
    ) -> Response[QueryResponse] | ServerSentEvent:
        how = AnswerOptions().replace(mode=data.mode, tools=data.tools, abstain=data.abstain, context=data.context)

        def boundary() -> Question:  # the request is checked before anything is streamed: a bad one is a 4xx
            return query_pipeline.prepare(name, data.question, data.k, options(query_pipeline, data), how)

        question = await anyio.to_thread.run_sync(boundary)
        if data.stream:
            return ServerSentEvent(stream_answer(query_pipeline, question))
        answer = await ANSWERS.run(query_pipeline.answer, question)
        return Response(query_response(answer))
