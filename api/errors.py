"""One place that maps every error to one JSON shape and its HTTP status.

Every error response reads ``{"error": {"code", "message", "detail"}}``: ``code`` is a
stable snake_case name to branch on, ``message`` a sentence saying what to change,
``detail`` an object (or null) with the specifics, e.g. the list of bad body fields.
One handler, registered for ``Exception``, answers the platform's own errors
(:class:`RAGError`), Litestar's (:class:`HTTPException`: validation, unknown route,
wrong method) and anything unexpected (500, logged, its text not sent). A platform
error with a ``detail`` attribute (JSON-able) sends it as the ``detail``.
``ConflictError`` (409) lives in ``core.errors`` with the base of the hierarchy,
so every layer can raise it; it is re-exported here.
"""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    ValidationException,
)
from litestar.exceptions.http_exceptions import RequestEntityTooLarge

from api.schemas import ErrorBody, ErrorResponse
from core.errors import (
    ConfigError,
    ConflictError,
    InvalidInputError,
    MissingDependencyError,
    NotFoundError,
    RAGError,
    ServiceUnavailableError,
)
from indexes.errors import DimensionMismatchError
from ingest.errors import DocumentParseError, PayloadTooLargeError, UnsupportedMediaTypeError
from rag.jobs import BenchmarkBusyError, QueueFullError

__all__ = [
    "EXCEPTION_HANDLERS",
    "STATUS_BY_ERROR",
    "BadRequestError",
    "ConflictError",
    "JSONRequest",
    "code_for",
    "error_response",
    "handle_error",
    "status_for",
]

log = logging.getLogger(__name__)

INTERNAL_MESSAGE = "an internal error occurred; see the server log"


class BadRequestError(RAGError):
    """A request that cannot be read as sent (malformed body, a form without usable filenames)."""


# Most specific first: the first matching class decides the status and the code.
ERROR_KINDS: tuple[tuple[type[RAGError], int, str], ...] = (
    (BadRequestError, 400, "bad_request"),
    (NotFoundError, 404, "not_found"),
    (BenchmarkBusyError, 409, "busy"),  # a ConflictError: before it
    (QueueFullError, 429, "queue_full"),
    (ConflictError, 409, "conflict"),
    (UnsupportedMediaTypeError, 415, "unsupported_media_type"),
    (PayloadTooLargeError, 413, "payload_too_large"),
    (DocumentParseError, 422, "unparsable_document"),
    (DimensionMismatchError, 422, "dimension_mismatch"),
    (InvalidInputError, 422, "invalid_input"),
    (ConfigError, 400, "invalid_config"),
    (MissingDependencyError, 503, "missing_dependency"),
    (ServiceUnavailableError, 503, "service_unavailable"),
)
STATUS_BY_ERROR: tuple[tuple[type[RAGError], int], ...] = tuple((cls, status) for cls, status, _ in ERROR_KINDS)

# Codes of Litestar's HTTP errors where the status phrase would not do (or differs between Pythons).
_CODE_BY_STATUS = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    422: "invalid_input",
    500: "internal_error",
}


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


def code_for(exc: BaseException) -> str:
    """The ``code`` of an error response for ``exc``."""
    if isinstance(exc, RAGError):
        return next((code for cls, _, code in ERROR_KINDS if isinstance(exc, cls)), "internal_error")
    if isinstance(exc, ValidationException):
        return "validation_error"
    if isinstance(exc, HTTPException):
        return _code_for_status(exc.status_code)
    return "internal_error"


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _code_for_status(status: int) -> str:
    if status in _CODE_BY_STATUS:
        return _CODE_BY_STATUS[status]
    phrase = _phrase(status)
    if not phrase:
        return "client_error" if status < 500 else "server_error"
    return re.sub(r"[^a-z0-9]+", "_", phrase.lower()).strip("_")


def _jsonable(value: Any) -> Any:
    """``value`` as JSON builtins (anything msgspec cannot encode becomes its ``str``), or None if empty."""
    if value is None or (isinstance(value, (dict, list, tuple)) and not value):
        return None
    return msgspec.to_builtins(value, enc_hook=str)


def error_response(
    status: int, code: str, message: str, detail: Any = None, headers: dict[str, str] | None = None
) -> Response[ErrorResponse]:
    """A response in the API's one error shape."""
    body = ErrorResponse(error=ErrorBody(code=code, message=message, detail=_jsonable(detail)))
    return Response(body, status_code=status, headers=headers, media_type=MediaType.JSON)


def _http_message(request: Request, exc: HTTPException) -> tuple[str, Any]:
    """Message and detail of a Litestar HTTP error; its default text (the status phrase) is made specific."""
    default = exc.detail == _phrase(exc.status_code)
    method, path = request.method, request.url.path
    if isinstance(exc, MethodNotAllowedException):
        allowed = sorted(m for m in (exc.headers or {}).get("allow", "").replace(" ", "").split(",") if m)
        message = f"{method} is not allowed on {path}; use " + (" or ".join(allowed) or "another method")
        return (message if default else exc.detail), {"allowed_methods": allowed} if allowed else None
    if isinstance(exc, NotFoundException) and default:
        return f"no route matches {method} {path}; the routes are listed at /schema", None
    if isinstance(exc, RequestEntityTooLarge) and default:
        limit = request.route_handler.resolve_request_max_body_size() or 0
        message = (
            f"the request body is larger than the {limit / 2**20:g} MiB that {method} {path} accepts; send only "
            "the fields it documents (at /schema), and upload files as multipart/form-data to "
            "POST /v1/collections/{name}/documents"
        )
        return message, {"limit_bytes": limit}
    return exc.detail, exc.extra


def _validation_message(exc: ValidationException) -> str:
    """Litestar's message (``Validation failed for POST /path``) followed by what is wrong with which field."""
    problems = [
        f"{'the body' if p.get('key') == 'data' else p.get('key')}: {p.get('message')}"
        for p in (exc.extra if isinstance(exc.extra, list) else [])
        if isinstance(p, dict) and p.get("message")
    ]
    return f"{exc.detail}: {'; '.join(problems)}" if problems else exc.detail


def handle_error(request: Request, exc: Exception) -> Response[ErrorResponse]:
    """The one exception handler: every error as ``{"error": {"code", "message", "detail"}}``."""
    where = f"{request.method} {request.url.path}"
    if isinstance(exc, RAGError):
        status = status_for(exc)
        if status >= 500:
            log.error("server error on %s: %s", where, exc, exc_info=exc)
        retry = getattr(exc, "retry_after_s", None)  # a full queue says when to try again
        headers = {"Retry-After": str(retry)} if retry is not None else None
        return error_response(status, code_for(exc), str(exc), getattr(exc, "detail", None), headers=headers)
    if isinstance(exc, HTTPException) and exc.status_code != 500:
        status = exc.status_code
        if isinstance(exc, ValidationException):
            message, detail = _validation_message(exc), exc.extra
        else:
            message, detail = _http_message(request, exc)
        if status >= 500:
            log.error("server error on %s: %s", where, exc, exc_info=exc)
        return error_response(status, code_for(exc), message, detail, headers=exc.headers)
    log.exception("unexpected error on %s", where, exc_info=exc)
    return error_response(500, "internal_error", INTERNAL_MESSAGE)


EXCEPTION_HANDLERS = {Exception: handle_error}
