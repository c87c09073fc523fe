"""Any OpenAI-compatible model server (llama.cpp's server, vLLM, Ollama, LM Studio) behind :class:`Generator`.

Users who already serve a bigger model point the platform at it (``RAG_GENERATOR=openai``, ``RAG_OPENAI_*``)
instead of loading one here. Replies come from ``POST {base}/chat/completions`` (streamed: server-sent events).

What is lost against the in-process decoders:

- No byte-level constrained decoding and no scoring of given replies (``supports_constraints = False``): the
  chat API cannot score a reply we hand it. So mode ``extract`` is refused when asked for by name and
  ``auto`` falls back to ``focus`` (the model writes the answer).
- Tool calls work through the server's JSON-schema response format (``supports_json_schema``): a
  ``JsonMachine`` constraint is sent as OpenAI's ``{"type": "json_schema", ...}`` (vLLM, llama.cpp's server,
  Ollama, LM Studio), and where a server refuses that shape (a 4xx, or a 500 naming the field), as llama.cpp's
  ``{"type": "json_object", "schema": ...}`` (llama-cpp-python's server), remembered per generator. A server
  that honours neither answers unconstrained: the reply is checked against the schema here, and a
  non-conforming one fails that tool call with a message (the pipeline's retry gets the error).
- Only the OpenAI sampling fields are sent (``max_tokens``, ``temperature``, ``top_p``, ``stop``, ``seed``):
  ``top_k``, the repetition penalty, ``logit_bias`` (our token ids are not the server's) and the repetition
  stop have no portable equivalent, so the server's own defaults apply. Beam search is refused.
- Token counts: the server's tokenizer where it has an endpoint (llama.cpp's ``/tokenize``,
  llama-cpp-python's ``/extras/tokenize/count``); elsewhere an estimate of one token per
  :data:`CHARS_PER_TOKEN` characters, which over-counts English (about 4 a token), so prompts get cut
  rather than overflow the server's context.

Errors: a server that cannot be reached, times out or stays overloaded (429/503 after :data:`TRIES` tries,
waiting as ``Retry-After`` says, else 0.5 s then 1 s) raises :class:`ServiceUnavailableError` (HTTP 503 from
the API); a model the server does not know raises :class:`ConfigError` naming the models it lists.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import httpx

from core.errors import ConfigError, RAGError, ServiceUnavailableError
from rag.generate.base import ChatMessage, GenerationConfig, GenerationResult, Generator
from rag.generate.openai_server import (  # noqa: F401 (OpenAIServer, retry_wait: this module's public names)
    MAX_WAIT_SECONDS,
    RESPONSE_FORMATS,
    OpenAIServer,
    ServerConnection,
    retry_wait,
)

CHARS_PER_TOKEN = 3.0  # the estimate where the server has no tokenizer endpoint


def _refuses_format(response: httpx.Response) -> bool:
    """Whether the server refused the response format's shape: a 400/422, or the 500 that llama-cpp-python's
    server answers for a request its schema rejects, naming the field."""
    if response.status_code in (400, 422):
        return True
    return response.status_code == 500 and "response_format" in response.text


class OpenAIGenerator(Generator):
    """A model behind an OpenAI-compatible chat-completions endpoint (see the module docstring for what is lost)."""

    name = "openai"
    supports_constraints = False
    supports_json_schema = True

    def __init__(self, server: OpenAIServer, sleep: Callable[[float], None] = time.sleep) -> None:
        self.server = server
        self.connection = ServerConnection(server, sleep)
        self.base = self.connection.base
        self._model = server.model
        self._counter: Callable[[str], int] | None = None
        self.tokenizer = "unknown"  # "server" or "estimate" once count_tokens has looked
        self._formats = list(RESPONSE_FORMATS)  # the JSON-schema shapes still to try; the first one worked last

    def _checked(self, response: httpx.Response) -> httpx.Response:
        return self.connection.checked(response, self._model, self._listing)

    def list_models(self) -> list[str]:
        """The model ids the server lists at ``/models``."""
        response = self.connection.send("GET", f"{self.base}/models")
        if not response.is_success:
            raise ConfigError(f"GET {self.base}/models answered HTTP {response.status_code}; check RAG_OPENAI_BASE_URL")
        return [str(m.get("id")) for m in response.json().get("data", [])]

    def _listing(self) -> str:
        """What the server lists at ``/models``, for an error message (never raises)."""
        try:
            return ", ".join(self.list_models()) or "it lists none"
        except (RAGError, ValueError, AttributeError) as exc:
            return str(exc)

    @property
    def model(self) -> str:
        """The configured model, or the first one the server lists when none is configured."""
        if not self._model:
            models = self.list_models()
            if not models:
                raise ConfigError(f"the model server at {self.base} lists no model; set RAG_OPENAI_MODEL")
            self._model = models[0]
        return self._model

    def _body(self, messages: Sequence[ChatMessage], config: GenerationConfig, stream: bool) -> dict[str, Any]:
        if not messages:
            raise ConfigError("no messages to answer")
        if config.num_beams > 1:
            raise ConfigError("the openai backend has no beam search; use the torch backend or num_beams=1")
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": config.max_tokens,
            "temperature": config.temperature,
            "top_p": config.top_p,
            "stream": stream,
        }
        if config.stop:
            body["stop"] = list(config.stop)
        if config.seed is not None:
            body["seed"] = config.seed
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

    # -- the Generator interface -------------------------------------------------
    def generate(
        self, messages: Sequence[ChatMessage], config: GenerationConfig | None = None, constraint: Any = None
    ) -> GenerationResult:
        """A full reply; ``constraint`` (a ``JsonMachine``) is enforced through the server's response format."""
        config = config or GenerationConfig()
        body = self._body(messages, config, stream=False)
        t0 = time.perf_counter()
        reply = self._post_reply(body, constraint)
        total = time.perf_counter() - t0
        choice = reply["choices"][0]
        text = choice.get("message", {}).get("content") or ""
        return self._result(messages, text, choice.get("finish_reason"), reply.get("usage"), (0.0, total))

    def stream(self, messages: Sequence[ChatMessage], config: GenerationConfig | None = None) -> Iterator[str]:
        config = config or GenerationConfig()
        for kind, value in self._events(self._body(messages, config, stream=True)):
            if kind == "text":
                yield value

    def generate_streaming(
        self, messages: Sequence[ChatMessage], config: GenerationConfig | None, on_text: Callable[[str], None]
    ) -> GenerationResult:
        config = config or GenerationConfig()
        body = self._body(messages, config, stream=True)
        pieces: list[str] = []
        finish, usage, first = None, None, None
        t0 = time.perf_counter()
        for kind, value in self._events(body):  # on_text raising closes the stream: the server stops decoding
            if kind == "text":
                first = first if first is not None else time.perf_counter()
                pieces.append(value)
                on_text(value)
            elif kind == "finish":
                finish = value
            else:
                usage = value
        end = time.perf_counter()
        prefill = (first or end) - t0
        return self._result(messages, "".join(pieces), finish, usage, (prefill, end - (first or end)))

    def _events(self, body: dict[str, Any]) -> Iterator[tuple[str, Any]]:
        """("text", piece), ("finish", reason) and ("usage", dict) from the server-sent events of a stream."""
        response = self._checked(self.connection.send("POST", f"{self.base}/chat/completions", stream=True, json=body))
        try:
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue  # blank separators, ": keep-alive" comments, "event:" names
                data = line[len("data:") :].strip()
                if data == "[DONE]":
                    break
                chunk = json.loads(data)
                if chunk.get("usage"):
                    yield "usage", chunk["usage"]
                for choice in chunk.get("choices") or []:
                    if piece := (choice.get("delta") or {}).get("content"):
                        yield "text", piece
                    if choice.get("finish_reason"):
                        yield "finish", choice["finish_reason"]
        except httpx.TransportError as exc:
            raise ServiceUnavailableError(f"the model server at {self.base} broke off its reply ({exc})") from exc
        finally:
            response.close()

    def _post_reply(self, body: dict[str, Any], constraint: Any) -> dict:
        """The server's reply to ``body``, with ``constraint``'s schema as the first response format it takes."""
        url = f"{self.base}/chat/completions"
        if constraint is None:
            return self._checked(self.connection.send("POST", url, json=body)).json()
        schema = getattr(constraint, "schema", None)
        if schema is None:
            raise ConfigError("the openai generator enforces JSON-schema constraints only (a JsonMachine)")
        while len(self._formats) > 1:
            response = self.connection.send("POST", url, json={**body, "response_format": self._formats[0](schema)})
            if not _refuses_format(response):
                return self._checked(response).json()
            response.close()
            self._formats.pop(0)  # this server refuses that shape: the next one, from now on
        return self._checked(self.connection.send("POST", url, json={**body, **self._formats[0](schema)})).json()

    def _result(
        self, messages: Sequence[ChatMessage], text: str, finish: str | None, usage: dict | None, seconds: tuple
    ) -> GenerationResult:
        """The result, with the server's token counts where it sent them; else counted here, of the messages'
        text only (without the chat template's tokens, which only the server knows)."""
        if usage:
            prompt, generated = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
        else:
            prompt, generated = sum(self.count_tokens(m.content) for m in messages), self.count_tokens(text)
        (prefill, decode), finish = seconds, "length" if finish == "length" else "stop"
        extra = {"model": self.model, "server": self.base, "total_seconds": prefill + decode}
        return GenerationResult(text, prompt, generated, finish, prefill, decode, extra)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` by the server's tokenizer where it offers one, else the estimate (module docstring)."""
        if self._counter is None:
            self._counter = self._find_counter()
        return self._counter(text)

    def _find_counter(self) -> Callable[[str], int]:
        """The first tokenizer endpoint the server answers, tried once; else the character estimate."""
        root = self.base.removesuffix("/v1")
        candidates: list[tuple[str, Callable[[str], dict], Callable[[dict], int]]] = [
            (f"{root}/extras/tokenize/count", lambda t: {"input": t}, lambda r: int(r["count"])),  # llama-cpp-python
            (f"{root}/tokenize", lambda t: {"content": t}, lambda r: len(r["tokens"])),  # llama.cpp's server
        ]
        for url, request, read in candidates:
            try:
                response = self.connection.send("POST", url, json=request("probe"))
                if response.is_success:
                    read(response.json())
                    self.tokenizer = "server"
                    return lambda text, url=url, request=request, read=read: read(
                        self._checked(self.connection.send("POST", url, json=request(text))).json()
                    )
            except (ValueError, KeyError, TypeError):
                continue  # an endpoint of that name that answers something else
        self.tokenizer = "estimate"
        return lambda text: math.ceil(len(text) / CHARS_PER_TOKEN)

    def close(self) -> None:
        self.connection.close()
