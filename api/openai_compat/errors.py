"""Errors on the OpenAI-compatible routes, in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``.

OpenAI clients read that shape (the ``openai`` package raises ``NotFoundError``,
``AuthenticationError``... with its message), so these routes answer it instead of
the API's own. The status and the message still come from the API's one mapping
(:func:`api.errors.handle_error`): this handler only re-dresses its answer, on this
controller alone, so the rest of the API keeps its shape.
"""

from __future__ import annotations

from litestar import MediaType, Request, Response
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Example

from api.errors import handle_error
from api.openai_compat.schemas import OpenAIError, OpenAIErrorResponse
from api.openapi import ERRORS
from api.schemas import ErrorResponse
from core.errors import NotFoundError

# OpenAI's error types by status
TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}
# OpenAI's codes where it has its own name for ours
CODES = {"unauthorized": "invalid_api_key", "forbidden": "permission_denied"}


class ModelNotFoundError(NotFoundError):
    """A ``model`` that names no collection this key may read (OpenAI's answer for both: the key learns nothing)."""

    def __init__(self, model: str) -> None:
        if model.startswith("gguf:"):
            message = (
                f"The model {model!r} is a generator model, which answers only through a collection: ask "
                "'rag:<collection>' (the server answers with the generator model RAG_MODEL names)"
            )
        else:
            message = (
                f"The model {model!r} does not exist or you do not have access to it. Models are collections, "
                "named 'rag:<collection>'; GET /v1/models lists those your key may read"
            )
        super().__init__(message)
        self.model = model


def error_type(status: int) -> str:
    return TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")


def openai_error(status: int, message: str, code: str | None, param: str | None = None) -> OpenAIErrorResponse:
    return OpenAIErrorResponse(OpenAIError(message=message, type=error_type(status), param=param, code=code))


def _param(exc: Exception, detail: object) -> str | None:
    """The request field an error is about, where it is known (OpenAI's ``param``)."""
    if isinstance(exc, ModelNotFoundError):
        return "model"
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        key = detail[0].get("key")
        return key if isinstance(key, str) and key != "data" else None
    return None


def handle_openai_error(request: Request, exc: Exception) -> Response[OpenAIErrorResponse]:
    """The API's answer to ``exc`` (status, headers, message), in OpenAI's error shape."""
    response = handle_error(request, exc)
    body: ErrorResponse = response.content
    status = response.status_code
    code = "model_not_found" if isinstance(exc, ModelNotFoundError) else CODES.get(body.error.code, body.error.code)
    return Response(
        openai_error(status, body.error.message, code, _param(exc, body.error.detail)),
        status_code=status,
        headers=dict(response.headers),
        media_type=MediaType.JSON,
    )


EXAMPLES = {
    400: ("invalid_request_error", "validation_error", "Validation failed for POST /v1/chat/completions: ..."),
    401: ("authentication_error", "invalid_api_key", "this server requires an API key: send it as 'Authorization: ..."),
    404: ("invalid_request_error", "model_not_found", "The model 'rag:papers' does not exist or you do not have ..."),
    422: ("invalid_request_error", "invalid_input", "the last message must be the user's question"),
    500: ("server_error", "internal_error", "an internal error occurred; see the server log"),
}


def openai_error_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI ``responses`` for these routes: each status documented with OpenAI's error shape."""
    return {status: _spec(status) for status in sorted(set(statuses))}


def _spec(status: int) -> ResponseSpec:
    kind, code, message = EXAMPLES.get(status, (error_type(status), None, ERRORS[status]))
    value = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return ResponseSpec(
        data_container=OpenAIErrorResponse,
        description=ERRORS[status],
        generate_examples=False,
        examples=[Example(summary=code or kind, value=value)],
    )
