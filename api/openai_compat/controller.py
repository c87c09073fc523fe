"""``/v1/chat/completions``, ``/v1/models``, ``/v1/embeddings``: the platform as an OpenAI-compatible server.

A model is a collection, named ``rag:<collection>``. A chat's last user message is the
question; the turns before it make a follow-up standalone (:mod:`rag.pipeline.followup`)
before the usual pipeline answers it, in the platform's default mode unless the request
names another. Keys are the API's: the guard checks that a key is valid (``key`` in
:data:`api.auth.ACCESS`), and each handler that the body names a collection checks that
the key may read it (a collection it may not read is reported as missing, as OpenAI does).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio
import msgspec
import numpy as np
from litestar import Controller, Request, Response, get, post
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, Operation, Schema
from litestar.response import Stream

from api.answers import ANSWERS, Outlet
from api.auth import request_grant
from api.errors import INTERNAL_MESSAGE, code_for, status_for
from api.openai_compat.convert import (
    Limits,
    StreamLimiter,
    answer_text,
    conversation,
    sources,
    writing,
)
from api.openai_compat.errors import ModelNotFoundError, handle_openai_error, openai_error, openai_error_responses
from api.openai_compat.schemas import (
    MAX_INPUTS,
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatRequest,
    Choice,
    ChunkChoice,
    CompletionUsage,
    Delta,
    EmbeddingList,
    EmbeddingOut,
    EmbeddingRequest,
    EmbeddingUsage,
    GeneratorModelInfo,
    ModelList,
    ModelOut,
    RagInfo,
)
from api.schemas import citation_out
from core.errors import InvalidInputError, RAGError
from ingest.embed import load_tokenizer
from rag.pipeline import Answer, AnswerCancelled, AnswerOptions, QueryPipeline, Question
from rag.pipeline.followup import Rewrite, rewrite
from rag.pipeline.request import check_text
from rag.platform import Platform
from rag.settings import Settings
from rag.store import Catalog, Collection

log = logging.getLogger(__name__)

PREFIX = "rag:"
DEFAULT_K = 5


def count_tokens(text: str) -> int:
    """Tokens of ``text`` for ``max_tokens`` (the embedding model's tokenizer: see api.openai_compat.convert)."""
    return len(load_tokenizer().encode(text, add_special_tokens=False).ids)


def readable(catalog: Catalog, request: Request, model: str) -> Collection:
    """The collection ``model`` names, if the request's key may read it; else OpenAI's 404 for the model."""
    found = catalog.find_collection(model.removeprefix(PREFIX)) if model.startswith(PREFIX) else None
    if found is None or not request_grant(request).allows(found.id, "read"):
        raise ModelNotFoundError(model)
    return found


def generator_models(settings: Settings) -> list[ModelOut]:
    """The GGUF files the generator can load (``rag.model.catalog``), the one in use marked ``active``."""
    from rag.model.catalog import list_models, resolve_model

    models = list_models(settings.models_path)
    active = resolve_model(settings.model, settings.models_path, models)
    out = []
    for m in models:
        info = GeneratorModelInfo(
            m.architecture, m.parameters, m.tensor_types, m.context_length, m.file_bytes,
            m.shipped if active is None else m.path == active, m.problem,
        )  # fmt: skip
        out.append(ModelOut(id=f"gguf:{m.name}", created=int(os.path.getmtime(m.path)), owned_by="local", gguf=info))
    return out


def rag_info(answer: Answer, asked: Rewrite) -> RagInfo:
    return RagInfo(asked.question, asked.rewritten, answer.abstained, answer.abstain_reason, answer.mode)


def usage_of(answer: Answer) -> CompletionUsage:
    u = answer.usage
    return CompletionUsage(u.prompt_tokens, u.generated_tokens, u.prompt_tokens + u.generated_tokens)


@dataclass
class ChatStreamOperation(Operation):
    """The completion's 200 answer is JSON, or with ``stream: true`` ``data:`` events of ``ChatCompletionChunk``."""

    def __post_init__(self) -> None:
        events = Schema(type="string", description="'data: <ChatCompletionChunk JSON>' events, then 'data: [DONE]'")
        for status, response in (self.responses or {}).items():
            if status.startswith("2") and isinstance(response, OpenAPIResponse):
                response.content = {**(response.content or {}), "text/event-stream": OpenAPIMediaType(schema=events)}


COMPLETION = ResponseSpec(data_container=ChatCompletion, description="The answer (or, with stream: true, events)",
                          generate_examples=False)  # fmt: skip


class OpenAIController(Controller):
    path = "/v1"
    tags = ["openai"]
    exception_handlers = {Exception: handle_openai_error}

    @get(
        "/models",
        operation_id="listModels",
        responses=openai_error_responses(400, 401, 500),
        sync_to_thread=True,
        summary="The collections this key may read, as OpenAI models named rag:<collection>, and the GGUF "
        "generator models (gguf:<name>, `rag models`)",
    )
    def models(self, request: Request, catalog: Catalog, settings: Settings) -> ModelList:
        grant = request_grant(request)
        data = [
            ModelOut(id=PREFIX + c.name, created=int(catalog.collection_created_at(c.id).timestamp()))
            for c in catalog.list_collections()
            if grant.allows(c.id, "read")
        ]
        return ModelList(data=data + generator_models(settings))

    @post(
        "/chat/completions",
        operation_id="createChatCompletion",
        responses={**openai_error_responses(400, 401, 403, 404, 413, 415, 422, 500, 503), 200: COMPLETION},
        operation_class=ChatStreamOperation,
        status_code=200,
        summary="Answer the last user message from the collection the model names, with citations (OpenAI's shape)",
        description="The assistant message holds the answer with [n] markers and a trailing 'Sources:' list; "
        "`citations` holds them in full. Earlier turns make a follow-up question standalone (`rag.question`).",
    )
    async def chat(
        self, request: Request, data: ChatRequest, catalog: Catalog, query_pipeline: QueryPipeline
    ) -> Response[ChatCompletion] | Stream:
        if data.n not in (None, 1):
            raise InvalidInputError(f"n must be 1 (one answer per question), got {data.n}")
        limits = Limits.of(data)
        how = AnswerOptions().replace(mode=data.mode, writing=writing(data, limits))

        def boundary() -> tuple[Rewrite, Question]:  # checked before anything is streamed: a bad request is a 4xx
            text, history = conversation(data.messages)
            asked = rewrite(check_text(text, "the last user message"), history)  # a long history: off the loop
            collection = readable(catalog, request, data.model)
            return asked, query_pipeline.prepare(collection.name, asked.question, data.k or DEFAULT_K, None, how)

        asked, question = await anyio.to_thread.run_sync(boundary)
        completion = Completion(f"chatcmpl-{uuid.uuid4().hex}", int(time.time()), data.model, limits, asked)
        if data.stream:
            headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
            return Stream(completion.stream(query_pipeline, question), media_type="text/event-stream", headers=headers)
        answer = await ANSWERS.run(query_pipeline.answer, question)
        return Response(completion.whole(answer))

    @post(
        "/embeddings",
        operation_id="createEmbedding",
        responses=openai_error_responses(400, 401, 403, 404, 413, 415, 422, 500, 503),
        status_code=200,
        summary="Embed text with the embedder of the collection the model names (OpenAI's shape)",
    )
    async def embeddings(
        self, request: Request, data: EmbeddingRequest, catalog: Catalog, platform: Platform
    ) -> EmbeddingList:
        texts = [data.input] if isinstance(data.input, str) else list(data.input)
        if not 1 <= len(texts) <= MAX_INPUTS:
            raise InvalidInputError(f"input takes 1 to {MAX_INPUTS} strings, got {len(texts)}")
        texts = [check_text(t, f"input {i}") for i, t in enumerate(texts)]
        if data.encoding_format not in (None, "float", "base64"):
            raise InvalidInputError(f"encoding_format must be 'float' or 'base64', got {data.encoding_format!r}")

        def embed() -> tuple[np.ndarray, int]:
            collection = readable(catalog, request, data.model)
            if data.dimensions not in (None, collection.dim):
                raise InvalidInputError(f"{data.model} embeds in {collection.dim} dimensions; leave dimensions out")
            embedder = platform.embedder_for(collection.embed_model)
            vectors = embedder.embed_queries(texts) if len(texts) <= 16 else embedder.embed(texts)
            tokens = sum(min(count_tokens(t) + 2, embedder.max_tokens) for t in texts)  # [CLS] and [SEP]
            return vectors, tokens

        vectors, tokens = await anyio.to_thread.run_sync(embed)
        as_base64 = data.encoding_format == "base64"
        out = [
            EmbeddingOut(i, base64.b64encode(v.astype("<f4").tobytes()).decode() if as_base64 else v.tolist())
            for i, v in enumerate(vectors)
        ]
        return EmbeddingList(data=out, model=data.model, usage=EmbeddingUsage(tokens, tokens))


class Completion:
    """One chat completion's identity and limits, and its answer as a whole response or as chunk events."""

    def __init__(self, id: str, created: int, model: str, limits: Limits, asked: Rewrite) -> None:
        self.id, self.created, self.model, self.limits, self.asked = id, created, model, limits, asked

    def whole(self, answer: Answer) -> ChatCompletion:
        text, finish = answer_text(answer, self.limits, count_tokens)
        choice = Choice(index=0, message=AssistantMessage(text), finish_reason=finish)
        citations = [citation_out(c) for c in answer.citations]
        return ChatCompletion(
            self.id, self.created, self.model, [choice], usage_of(answer), citations, rag_info(answer, self.asked)
        )

    def chunk(self, delta: Delta, finish: str | None = None, **extra) -> bytes:
        choice = ChunkChoice(index=0, delta=delta, finish_reason=finish)
        body = ChatCompletionChunk(self.id, self.created, self.model, [choice], **extra)
        return b"data: " + msgspec.json.encode(body) + b"\n\n"

    def last(self, answer: Answer, limiter: StreamLimiter) -> list[bytes]:
        """The end of a streamed answer: what is left of its text, its sources, then the chunk with citations."""
        rest = limiter.close()
        if not limiter.text.strip():  # nothing written (a refusal; mode reader writes nothing when it abstains)
            rest, limiter.finish = answer_text(answer, self.limits, count_tokens)
        elif answer.abstained:  # written, then found unsupported by the passages
            rest += "\n\n" + answer.answer
        else:
            rest += sources(answer.citations, limiter.text[: limiter.sent])
        citations = [citation_out(c) for c in answer.citations]
        out = [self.chunk(Delta(content=rest))] if rest else []
        info = rag_info(answer, self.asked)
        extra = dict(citations=citations, rag=info, usage=usage_of(answer))
        return [*out, self.chunk(Delta(), limiter.finish or "stop", **extra), b"data: [DONE]\n\n"]

    async def stream(self, pipeline: QueryPipeline, question: Question) -> AsyncIterator[bytes]:
        """Answer on a thread of :data:`ANSWERS` (:meth:`~api.answers.AnswerPool.stream`, as api.controllers.query
        does) and send its text as it comes; a client that goes away stops the generation at its next token."""
        limiter = StreamLimiter(self.limits, count_tokens)

        def produce(out: Outlet[bytes]) -> None:
            def on_text(piece: str) -> None:
                out.check()  # at every token, also one the limiter holds back
                if sent := limiter.feed(piece):
                    out.send(self.chunk(Delta(content=sent)))

            try:
                for item in self.last(pipeline.answer(question, on_text), limiter):
                    out.send(item)
            except AnswerCancelled:
                raise
            except Exception as exc:  # the client's library raises it as an APIError; the server keeps serving
                out.send(error_event(exc))

        yield self.chunk(Delta(role="assistant", content=""))
        async for item in ANSWERS.stream(produce, log):
            yield item


def error_event(exc: Exception) -> bytes:
    """An error after the stream began, as OpenAI sends one: a ``data:`` event holding ``{"error": {...}}``."""
    if isinstance(exc, RAGError):
        status, message, code = status_for(exc), str(exc), code_for(exc)
    else:
        status, message, code = 500, INTERNAL_MESSAGE, "internal_error"
    if status >= 500:
        log.error("error while streaming a chat completion", exc_info=exc)
    return b"data: " + json.dumps(msgspec.to_builtins(openai_error(status, message, code))).encode() + b"\n\n"
