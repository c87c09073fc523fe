"""Talking to an OpenAI-compatible model server: where it is, retries on 429/503, and what its errors mean.

:class:`ServerConnection` sends one request, trying again while the server answers 429 or 503 (waiting as
``Retry-After`` says, else :data:`BACKOFF_SECONDS` doubling), and turns a failed response into the platform's
error: :class:`ServiceUnavailableError` (HTTP 503 from the API) for a server that is down, slow or busy,
:class:`ConfigError` for a wrong URL, key or model. The generator on top is ``rag.generate.openai_backend``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from core.errors import ConfigError, ServiceUnavailableError

TRIES = 3  # attempts of one request while the server answers 429 or 503
BACKOFF_SECONDS = 0.5  # the first wait without Retry-After; doubles each try
MAX_WAIT_SECONDS = 30.0  # a Retry-After longer than this is cut to it
RETRY_STATUSES = (429, 503)


@dataclass(frozen=True)
class OpenAIServer:
    """Where the model server is and how long to wait for it (hashable: one shared generator per server).

    Args:
        base_url: the API root, up to and including ``/v1`` (``http://127.0.0.1:8080/v1``).
        api_key: sent as a bearer token when set (local servers need none).
        model: the model name; "" means the first one the server lists at ``/models``.
        connect_timeout: seconds to open a connection (a server that is down fails fast).
        read_timeout: seconds to wait for the next bytes of a reply (a big model's prefill on a slow machine).
    """

    base_url: str
    api_key: str = field(default="", repr=False)
    model: str = ""
    connect_timeout: float = 5.0
    read_timeout: float = 300.0

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"RAG_OPENAI_BASE_URL must be an http(s) URL such as http://127.0.0.1:8080/v1, got {self.base_url!r}"
            )


def _openai_schema(schema: Any) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "arguments", "schema": schema or {}, "strict": True}}


def _llamacpp_schema(schema: Any) -> dict[str, Any]:
    return {"type": "json_object", "schema": schema or {}}


# The JSON-schema response formats, tried in this order (see the module docstring). The last entry is the
# body fields sent when both were refused: none (unconstrained; the reply is checked by the caller).
RESPONSE_FORMATS: tuple[Callable[[Any], dict[str, Any]], ...] = (_openai_schema, _llamacpp_schema, lambda _: {})


def retry_wait(response: httpx.Response, attempt: int) -> float:
    """Seconds to wait before trying again after ``response`` (429/503), on the ``attempt``-th try (0-based)."""
    header = response.headers.get("retry-after", "").strip()
    if header:
        try:
            wait = float(header)
        except ValueError:
            try:
                wait = parsedate_to_datetime(header).timestamp() - time.time()
            except (TypeError, ValueError):
                wait = BACKOFF_SECONDS * 2**attempt
        return min(max(wait, 0.0), MAX_WAIT_SECONDS)
    return BACKOFF_SECONDS * 2**attempt


class ServerConnection:
    """An HTTP client for one server (``base``: its API root), with retries and errors that say what to change."""

    def __init__(self, server: OpenAIServer, sleep: Callable[[float], None] = time.sleep) -> None:
        self.base = server.base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {server.api_key}"} if server.api_key else {}
        timeout = httpx.Timeout(server.read_timeout, connect=server.connect_timeout)
        self.client = httpx.Client(headers=headers, timeout=timeout)
        self._sleep = sleep

    def send(self, method: str, url: str, *, stream: bool = False, **kwargs: Any) -> httpx.Response:
        """One request, tried again on 429/503; errors say what to change. A streamed response is open."""
        for attempt in range(TRIES):
            try:
                request = self.client.build_request(method, url, **kwargs)
                response = self.client.send(request, stream=stream)
            except httpx.TimeoutException as exc:
                raise ServiceUnavailableError(
                    f"the model server at {self.base} did not answer in time ({exc!r}); "
                    "check that it is running and not overloaded"
                ) from exc
            except httpx.TransportError as exc:
                raise ServiceUnavailableError(
                    f"cannot reach the model server at {self.base} ({exc}); start it or fix RAG_OPENAI_BASE_URL"
                ) from exc
            if response.status_code not in RETRY_STATUSES or attempt == TRIES - 1:
                return response
            wait = retry_wait(response, attempt)
            response.close()
            self._sleep(wait)
        raise AssertionError("unreachable")

    def checked(self, response: httpx.Response, model: str, listing: Callable[[], str]) -> httpx.Response:
        """``response`` when it succeeded; else the error it means."""
        if response.is_success:
            return response
        response.read()  # a streamed response's body; then its connection goes back to the pool
        response.close()
        detail = response.text[:300]
        status = response.status_code
        if status in RETRY_STATUSES:
            raise ServiceUnavailableError(
                f"the model server at {self.base} is busy (HTTP {status} after {TRIES} tries): {detail}"
            )
        if status == 404:
            raise ConfigError(
                f"the model server at {self.base} does not serve model {model!r} (HTTP 404: {detail}); "
                f"set RAG_OPENAI_MODEL to one it lists ({listing()}), or check that RAG_OPENAI_BASE_URL "
                "ends where the API's /chat/completions and /models live (usually /v1)"
            )
        if status in (401, 403):
            raise ConfigError(
                f"the model server at {self.base} refused the key (HTTP {status}); set RAG_OPENAI_API_KEY"
            )
        if status >= 500:
            raise ServiceUnavailableError(f"the model server at {self.base} failed (HTTP {status}): {detail}")
        raise ConfigError(f"the model server at {self.base} refused the request (HTTP {status}): {detail}")

    def close(self) -> None:
        self.client.close()
