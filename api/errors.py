"""One place that maps the platform's error hierarchy to HTTP responses."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException

from indexes.errors import (
    ConfigError,
    DimensionMismatchError,
    DocumentParseError,
    InvalidInputError,
    MissingDependencyError,
    NotFoundError,
    PayloadTooLargeError,
    RAGError,
    UnsupportedMediaTypeError,
)
from rag.bench_jobs import BenchmarkBusyError

log = logging.getLogger(__name__)


class BadRequestError(RAGError):
    """A request that cannot be read as sent (malformed body, a form without usable filenames)."""


# Most specific first: the first matching class decides the status.
STATUS_BY_ERROR: tuple[tuple[type[RAGError], int], ...] = (
    (BadRequestError, 400),
    (NotFoundError, 404),
    (BenchmarkBusyError, 409),
    (UnsupportedMediaTypeError, 415),
    (PayloadTooLargeError, 413),
    (DocumentParseError, 422),
    (DimensionMismatchError, 422),
    (InvalidInputError, 422),
    (ConfigError, 400),
    (MissingDependencyError, 503),
)


class JSONRequest(Request):
    """Litestar's request, with JSON bodies too deeply nested to decode refused as bad input.

    msgspec decodes recursively, so a body such as ``[[[[...]]]]`` 100,000 levels
    deep raises RecursionError, which Litestar would report as a server error.
    """

    async def json(self) -> Any:
        try:
            return await super().json()
        except RecursionError:
            raise BadRequestError(
                'the JSON body is nested too deeply to decode; send a flat object such as {"query": "..."}'
            ) from None


def status_for(exc: RAGError) -> int:
    for cls, status in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return status
    return 500


def _body(status: int, error: str, detail: str) -> dict:
    return {"status_code": status, "error": error, "detail": detail}


def rag_error_handler(request: Request, exc: RAGError) -> Response:
    status = status_for(exc)
    if status >= 500:
        log.error("server error on %s %s: %s", request.method, request.url.path, exc)
    return Response(_body(status, type(exc).__name__, str(exc)), status_code=status)


def http_error_handler(request: Request, exc: HTTPException) -> Response:
    detail = exc.detail
    extra = getattr(exc, "extra", None)
    if extra:
        detail = f"{detail}: {extra}"
    return Response(
        _body(exc.status_code, type(exc).__name__, str(detail)),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return Response(
        _body(500, "InternalServerError", "an internal error occurred; see the server log"), status_code=500
    )


EXCEPTION_HANDLERS = {
    RAGError: rag_error_handler,
    HTTPException: http_error_handler,
    Exception: unexpected_error_handler,
}
