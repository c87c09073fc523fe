"""OpenAI's request and response shapes for chat completions, models and embeddings (msgspec Structs).

Requests ignore fields they do not name, as OpenAI's own server does (clients send
``user``, ``seed``, ``stream_options``, ``presence_penalty``...), so they are Structs
with ``forbid_unknown_fields=False``, unlike the rest of the API. Responses carry
OpenAI's fields and, where this platform has more to say, extra fields a client can
read without breaking: ``citations`` and ``rag`` on a chat completion.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from api.schemas import CitationOut

# OpenAI's bounds: sampling temperature 0-2, at most 4 stop sequences, 2,048 inputs per embedding request
Temperature = Annotated[float, msgspec.Meta(ge=0, le=2)]
PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
MAX_STOP = 4
MAX_INPUTS = 2048


class ContentPart(msgspec.Struct, forbid_unknown_fields=False):
    """One part of a message's content; only ``text`` parts are read (an image part is refused)."""

    type: str
    text: str | None = None


class MessageIn(msgspec.Struct, forbid_unknown_fields=False):
    role: str  # "system" | "developer" | "user" | "assistant" | "tool"
    content: str | list[ContentPart] | None = None


class ChatRequest(msgspec.Struct, forbid_unknown_fields=False, kw_only=True):
    """``POST /v1/chat/completions``: OpenAI's fields, and two of this platform's (``mode``, ``k``)."""

    model: str  # "rag:<collection>"
    messages: list[MessageIn]
    stream: bool = False
    temperature: Temperature | None = None
    max_tokens: PositiveInt | None = None
    max_completion_tokens: PositiveInt | None = None  # OpenAI's newer name for max_tokens
    stop: str | list[str] | None = None
    n: PositiveInt | None = None  # 1 only: one answer per question
    mode: str | None = None  # the answer mode ("reader", the platform's default; "auto", "passages", "focus"...)
    k: PositiveInt | None = None  # passages retrieved (default 5)


class AssistantMessage(msgspec.Struct):
    content: str
    role: str = "assistant"


class Choice(msgspec.Struct):
    index: int
    message: AssistantMessage
    finish_reason: str  # "stop" | "length"
    logprobs: None = None


class CompletionUsage(msgspec.Struct):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class RagInfo(msgspec.Struct):
    """What this platform adds: the question it searched for, and whether it declined to answer."""

    question: str  # the last user message made standalone from the history (rag.pipeline.followup)
    rewritten: bool
    abstained: bool
    abstain_reason: str | None
    mode: str


class ChatCompletion(msgspec.Struct):
    id: str
    created: int
    model: str
    choices: list[Choice]
    usage: CompletionUsage
    citations: list[CitationOut]  # in full: document, page, character range, the reader's span and quote
    rag: RagInfo
    object: str = "chat.completion"


class Delta(msgspec.Struct, omit_defaults=True):
    role: str | None = None
    content: str | None = None


class ChunkChoice(msgspec.Struct):
    index: int
    delta: Delta
    finish_reason: str | None = None
    logprobs: None = None


class ChatCompletionChunk(msgspec.Struct):
    """One ``data:`` event of a streamed completion; the last one (with ``finish_reason``) has ``citations``."""

    id: str
    created: int
    model: str
    choices: list[ChunkChoice]
    object: str = "chat.completion.chunk"
    citations: list[CitationOut] | None = None
    rag: RagInfo | None = None
    usage: CompletionUsage | None = None


class GeneratorModelInfo(msgspec.Struct):
    """What a ``gguf:<name>`` entry is: a GGUF file the generator can load (``rag models`` lists the same)."""

    architecture: str | None
    parameters: int
    tensor_types: dict[str, int]
    context_length: int | None
    file_bytes: int
    active: bool  # the model this server answers with (RAG_MODEL)
    problem: str | None  # why our decoder cannot run it; None when it can


class ModelOut(msgspec.Struct):
    id: str  # "rag:<collection>", or "gguf:<name>" for a generator model
    created: int  # when the collection was created, or the file last changed (seconds since the epoch)
    owned_by: str = "localrag"
    object: str = "model"
    gguf: GeneratorModelInfo | None = None  # set on the generator models only


class ModelList(msgspec.Struct):
    data: list[ModelOut]
    object: str = "list"


class EmbeddingRequest(msgspec.Struct, forbid_unknown_fields=False, kw_only=True):
    model: str  # "rag:<collection>": that collection's embedder
    input: str | list[str]
    encoding_format: str | None = None  # "float" (default) | "base64" (float32, little-endian)
    dimensions: PositiveInt | None = None  # must equal the model's dimension when given


class EmbeddingOut(msgspec.Struct):
    index: int
    embedding: list[float] | str  # a base64 string with encoding_format "base64"
    object: str = "embedding"


class EmbeddingUsage(msgspec.Struct):
    prompt_tokens: int
    total_tokens: int


class EmbeddingList(msgspec.Struct):
    data: list[EmbeddingOut]
    model: str
    usage: EmbeddingUsage
    object: str = "list"


class OpenAIError(msgspec.Struct):
    message: str
    type: str  # "invalid_request_error" | "authentication_error" | "permission_error" | "server_error"...
    param: str | None = None
    code: str | None = None


class OpenAIErrorResponse(msgspec.Struct):
    error: OpenAIError
