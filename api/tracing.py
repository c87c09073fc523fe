"""Request ids, and the server's log lines that carry them (as text or as JSON lines).

Every HTTP request gets an id: the client's ``X-Request-ID`` when it is sane (at
most :data:`MAX_ID_CHARS` of ``[A-Za-z0-9._-]``: it goes into log lines, so
nothing that could forge one), else a new uuid4 hex. The id is returned in the
response's ``X-Request-ID`` and held in :data:`REQUEST_ID` (a contextvar) while
the request is handled, so every log record made meanwhile carries it: through
:class:`RequestIdFilter`, which :func:`install_logging` puts on the root logger's
handlers and on uvicorn's (whose access line is written from inside the
request's ``send``). Work handed to threads keeps the id where the context is
copied (``anyio.to_thread``, ``asyncio.to_thread``); ``loop.run_in_executor``
does not copy it.

``RAG_LOG_FORMAT=json`` makes those handlers write one JSON object a line
(:class:`JsonFormatter`); the default text lines keep their format and end with
``request_id=...`` when written inside a request.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

from litestar.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "HEADER",
    "LOG_FORMATS",
    "REQUEST_ID",
    "JsonFormatter",
    "RequestIdFilter",
    "RequestIds",
    "TextWithRequestId",
    "install_logging",
    "request_id_of",
]

HEADER = "X-Request-ID"
MAX_ID_CHARS = 128
SANE_ID = re.compile(rf"[A-Za-z0-9._-]{{1,{MAX_ID_CHARS}}}")
LOG_FORMATS = ("text", "json")
# Loggers with handlers of their own that do not propagate to the root (uvicorn's dictConfig).
SERVER_LOGGERS = ("uvicorn", "uvicorn.access", "uvicorn.error")

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
_HEADER_BYTES = HEADER.lower().encode()


def request_id_of(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's id where it is sane, else a new one (ASGI headers: lower-case names)."""
    for name, value in headers:
        if name == _HEADER_BYTES:
            sent = value.decode("latin-1")
            if SANE_ID.fullmatch(sent):
                return sent
            break
    return uuid.uuid4().hex


class RequestIds:
    """Pure ASGI middleware: the request's id in :data:`REQUEST_ID` while it runs and in its response headers.

    Nothing is buffered: each message goes on as it comes (a stream keeps streaming).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope["headers"])
        header = (_HEADER_BYTES, request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", ()) if h[0].lower() != _HEADER_BYTES]
                message["headers"] = [*headers, header]
            await send(message)

        token = REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)


class RequestIdFilter(logging.Filter):
    """Gives every record ``request_id``: the id of the request being handled, or None outside one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: timestamp (UTC, ISO 8601), level, logger, message, request_id (and exception).

    Keeps the handler's text formatter (``previous``), to go back to it.
    """

    def __init__(self, previous: logging.Formatter | None = None) -> None:
        super().__init__()
        self.previous = previous

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class TextWithRequestId(logging.Formatter):
    """A handler's own text format, with `` request_id=...`` after lines written inside a request."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record) if self.inner is None else self.inner.format(record)
        request_id = getattr(record, "request_id", None)
        return text if request_id is None else f"{text} request_id={request_id}"


def install_logging(log_format: str = "text") -> None:
    """Put :class:`RequestIdFilter` and the format on the root's handlers and uvicorn's (idempotent).

    Called by the app once it is built: uvicorn has configured its loggers by then, and
    Litestar the root's (its queue handler, whose listener's handlers print). A root
    logger without handlers gets one on stderr. Levels are left as they are.
    """
    if log_format not in LOG_FORMATS:
        raise ValueError(f"unknown log format {log_format!r}; use one of {', '.join(LOG_FORMATS)}")
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stderr))
    handlers = [*root.handlers, *(h for name in SERVER_LOGGERS for h in logging.getLogger(name).handlers)]
    for handler in handlers:
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())  # on the handler the record meets first: in the request's context
        _set_format(handler, log_format)


def _set_format(handler: logging.Handler, log_format: str) -> None:
    current = _plain(handler.formatter)
    handler.setFormatter(JsonFormatter(current) if log_format == "json" else TextWithRequestId(current))
    # A queue handler (Litestar's root handler) formats a record into its message, on the thread that logged it;
    # its listener's handlers then print that message: a JSON line as it is, text in their own format
    for printer in getattr(getattr(handler, "listener", None), "handlers", ()):
        current = _plain(printer.formatter)
        printer.setFormatter(MessageOnly(current) if log_format == "json" else current)


class MessageOnly(logging.Formatter):
    """The message alone (a line another handler formatted); keeps the formatter it replaced."""

    def __init__(self, previous: logging.Formatter | None) -> None:
        super().__init__()
        self.previous = previous


def _plain(formatter: logging.Formatter | None) -> logging.Formatter | None:
    """The handler's own formatter under the ones :func:`install_logging` put around it."""
    while isinstance(formatter, JsonFormatter | MessageOnly | TextWithRequestId):
        formatter = formatter.inner if isinstance(formatter, TextWithRequestId) else formatter.previous
    return formatter
