"""OpenAPI for the API: documented error responses, and a docs page that works offline.

Route decorators document their errors with ``responses=error_responses(404, 422)``
(every one in the shape of :class:`api.schemas.ErrorResponse`). :func:`openapi_config`
serves ``/schema/openapi.json`` and ``/schema/openapi.yaml``, and at ``/schema`` (and
``/schema/docs``) a plain HTML page rendered on the server from the same document. The
Swagger, Redoc, Stoplight and RapiDoc pages are not served: they load their scripts from
a CDN and would be blank on a machine without network.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin, OpenAPIRenderPlugin, YamlRenderPlugin
from litestar.openapi.spec import (
    Example,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    Schema,
)

from api.schemas import ErrorResponse

__all__ = ["COMMON", "ERRORS", "DocsPagePlugin", "EventStreamOperation", "error_responses", "openapi_config"]

TITLE = "Local RAG"
VERSION = "0.1.0"
SCHEMA_PATH = "/schema"

# What each error status means in this API, with the codes it may carry.
ERRORS: dict[int, str] = {
    400: "The request cannot be read as sent: malformed JSON, a field of the wrong type or missing "
    "(code validation_error), an unknown field or form field (bad_request), an invalid setting (invalid_config), "
    "a Host header that is not this server's (bad_request; see RAG_ALLOWED_HOSTS).",
    401: "Keys are enforced and the request has no valid one (code unauthorized): send 'Authorization: Bearer KEY'.",
    403: "The key does not cover the request (code forbidden): another collection's key, a read key for a write, "
    "or a collection key where the admin key is needed; or a write sent from another site's page (an Origin "
    "that is not this server's).",
    404: "The collection, document, job or route does not exist (code not_found).",
    405: "The route exists but not with this method (code method_not_allowed); the Allow header lists the methods.",
    409: "The request clashes with the current state: a job already running (code busy, conflict).",
    413: "The request is larger than its limit (code payload_too_large): an upload over the configured size, a JSON "
    "body over 1 MiB, a query over 100,000 characters; the message names the limit.",
    415: "A file type or request content type that is not handled (code unsupported_media_type): JSON routes take "
    "application/json only.",
    422: "Well-formed input that cannot be processed: an empty document, a bad query or parameter "
    "(code invalid_input), an unreadable document (unparsable_document), a vector dimension clash "
    "(dimension_mismatch).",
    429: "The collection's upload queue is full (code queue_full): wait for its jobs to finish (Retry-After).",
    500: "An internal error (code internal_error); the server log has the details.",
    503: "An optional package or model file is not installed (code missing_dependency).",
}

# The errors every route with a JSON body or path parameters can answer.
COMMON: tuple[int, ...] = (400, 500)

_VALIDATION_DETAIL = [{"message": "Expected `str`, got `int`", "key": "query", "source": "body"}]
_EXAMPLE_CODES: dict[int, tuple[str, str]] = {
    400: (
        "validation_error",
        "Validation failed for POST /v1/collections/docs/search: query: Expected `str`, got `int`",
    ),
    401: ("unauthorized", "this server requires an API key: send it as 'Authorization: Bearer KEY'"),
    403: ("forbidden", "this API key does not allow that: it needs a write key of this collection"),
    404: ("not_found", "collection 'docs' does not exist; upload a document to create it"),
    405: ("method_not_allowed", "DELETE is not allowed on /healthz; use GET"),
    409: ("busy", "a benchmark is already running; poll its job and retry when it is done"),
    413: ("payload_too_large", "big.txt is 3.0 MB; the limit is 2 MB"),
    415: ("unsupported_media_type", "report.docx: unsupported file type; send .txt, .md, .html, .pdf or .csv"),
    422: ("invalid_input", "the query is empty; send some words to search for"),
    429: ("queue_full", "collection 'docs' has 100 uploads waiting; send more once some have finished"),
    500: ("internal_error", "an internal error occurred; see the server log"),
    503: ("missing_dependency", "the package 'faiss' is not installed; pip install faiss-cpu"),
}


def error_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI ``responses`` for a route decorator: each status documented as an ``ErrorResponse``."""
    unknown = [s for s in statuses if s not in ERRORS]
    if unknown:
        raise ValueError(f"no description of error status {unknown}; add it to api.openapi.ERRORS")
    return {status: _spec(status) for status in sorted(set(statuses))}


def _spec(status: int) -> ResponseSpec:
    code, message = _EXAMPLE_CODES[status]
    detail = _VALIDATION_DETAIL if code == "validation_error" else None
    example = Example(summary=code, value={"error": {"code": code, "message": message, "detail": detail}})
    return ResponseSpec(
        data_container=ErrorResponse,
        description=ERRORS[status],
        generate_examples=False,
        examples=[example],
    )


def openapi_config() -> OpenAPIConfig:
    """The app's OpenAPI: JSON and YAML documents, and the offline docs page at ``/schema``."""
    return OpenAPIConfig(
        title=TITLE,
        version=VERSION,
        path=SCHEMA_PATH,
        render_plugins=[DocsPagePlugin(), JsonRenderPlugin(), YamlRenderPlugin()],
    )


class DocsPagePlugin(OpenAPIRenderPlugin):
    """A self-contained HTML page (no script, no external style or font) listing every operation."""

    def __init__(self, path: str | list[str] | None = None) -> None:
        super().__init__(path=path or ["/", "/docs"], favicon="", style="")

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        return render_page(openapi_schema, self.get_openapi_json_route(request)).encode("utf-8")


_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; max-width: 60rem; margin: 1.5rem auto; padding: 0 1rem; color: #222 }
h1 { margin-bottom: .2rem } h2 { margin-top: 2rem; border-bottom: 1px solid #ccc }
section.op { border: 1px solid #ddd; border-radius: 6px; padding: .3rem .9rem; margin: .8rem 0 }
h3 { font-size: 1rem; margin: .5rem 0 } code { font: 13px ui-monospace, monospace }
.m { display: inline-block; min-width: 4rem; font: bold 13px ui-monospace, monospace; text-transform: uppercase }
.get { color: #06c } .post { color: #080 } .put, .patch { color: #a60 } .delete { color: #c00 }
table { border-collapse: collapse; margin: .3rem 0 .6rem } td, th { border: 1px solid #ddd; padding: .2rem .5rem;
  text-align: left; vertical-align: top } th { background: #f5f5f5 } .muted { color: #666 }
"""

_METHODS = ("get", "post", "put", "patch", "delete", "head", "options")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _type(schema: dict[str, Any] | None) -> str:
    """A schema as short HTML: a link to a named schema, ``array of X``, ``A | B``, or its type."""
    if not schema:
        return "any"
    if "$ref" in schema:
        name = _ref_name(schema["$ref"])
        return f'<a href="#schema-{_e(name)}"><code>{_e(name)}</code></a>'
    for key in ("oneOf", "anyOf"):
        if key in schema:
            return " | ".join(_type(s) for s in schema[key])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(_e(k) for k in kind)
    if kind == "array":
        return f"array of {_type(schema.get('items'))}"
    text = _e(kind or "any")
    if "enum" in schema:
        text += " (" + ", ".join(f"<code>{_e(v)}</code>" for v in schema["enum"]) + ")"
    if "format" in schema:
        text += f" <span class=muted>{_e(schema['format'])}</span>"
    return text


def _content_types(content: dict[str, Any] | None) -> str:
    if not content:
        return ""
    return "; ".join(f"<code>{_e(mt)}</code> {_type(body.get('schema'))}" for mt, body in content.items())


def _parameters(params: list[dict[str, Any]]) -> list[str]:
    rows = [
        f"<tr><td><code>{_e(p.get('name'))}</code></td><td>{_e(p.get('in'))}</td>"
        f"<td>{'yes' if p.get('required') else 'no'}</td><td>{_type(p.get('schema'))}</td>"
        f"<td>{_e(p.get('description') or '')}</td></tr>"
        for p in params
    ]
    head = "<tr><th>parameter</th><th>in</th><th>required</th><th>type</th><th>description</th></tr>"
    return ["<table>", head, *rows, "</table>"]


def _operation(path: str, method: str, op: dict[str, Any], shared_params: list[dict[str, Any]]) -> list[str]:
    anchor = op.get("operationId") or f"{method}-{path}"
    out = [
        f'<section class=op id="op-{_e(anchor)}">',
        f'<h3><span class="m {_e(method)}">{_e(method)}</span> <code>{_e(path)}</code>'
        + (f" — {_e(op['summary'])}" if op.get("summary") else "")
        + "</h3>",
    ]
    if op.get("description"):
        out.append(f"<p>{_e(op['description'])}</p>")
    params = [*shared_params, *op.get("parameters", [])]
    if params:
        out += _parameters(params)
    body = op.get("requestBody")
    if body:
        required = " (required)" if body.get("required") else ""
        desc = f" — {_e(body['description'])}" if body.get("description") else ""
        out.append(f"<p><b>Request body{required}:</b> {_content_types(body.get('content'))}{desc}</p>")
    responses = op.get("responses") or {}
    if responses:
        out += ["<table>", "<tr><th>status</th><th>description</th><th>body</th></tr>"]
        for status, resp in sorted(responses.items(), key=lambda kv: str(kv[0])):
            out.append(
                f"<tr><td>{_e(status)}</td><td>{_e(resp.get('description') or '')}</td>"
                f"<td>{_content_types(resp.get('content'))}</td></tr>"
            )
        out.append("</table>")
    out.append("</section>")
    return out


def _schema_section(name: str, schema: dict[str, Any]) -> list[str]:
    out = [f'<section class=op id="schema-{_e(name)}"><h3><code>{_e(name)}</code></h3>']
    if schema.get("description"):
        out.append(f"<p>{_e(schema['description'])}</p>")
    props = schema.get("properties") or {}
    if props:
        required = set(schema.get("required") or ())
        out += ["<table>", "<tr><th>field</th><th>type</th><th>required</th></tr>"]
        out += [
            f"<tr><td><code>{_e(field)}</code></td><td>{_type(sub)}</td><td>{'yes' if field in required else 'no'}"
            "</td></tr>"
            for field, sub in props.items()
        ]
        out.append("</table>")
    else:
        out.append(f"<p>{_type({k: v for k, v in schema.items() if k != 'description'})}</p>")
    out.append("</section>")
    return out


def render_page(spec: dict[str, Any], json_url: str) -> str:
    """The docs page for an OpenAPI document (a dict); every value taken from it is escaped."""
    info = spec.get("info") or {}
    title = f"{info.get('title', 'API')} {info.get('version', '')}".strip()
    yaml_url = json_url.rsplit("/", 1)[0] + "/openapi.yaml"
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p>The OpenAPI document: <a href="{_e(json_url)}">openapi.json</a>, '
        f'<a href="{_e(yaml_url)}">openapi.yaml</a>. Every error answers '
        '<code>{"error": {"code", "message", "detail"}}</code>.</p>',
    ]
    if info.get("description"):
        out.append(f"<p>{_e(info['description'])}</p>")
    paths = spec.get("paths") or {}
    operations = [
        (path, method, item[method], item.get("parameters", []))
        for path, item in paths.items()
        for method in _METHODS
        if method in item
    ]
    out += ["<h2>Operations</h2>", "<ul>"]
    out += [
        f'<li><a href="#op-{_e(op.get("operationId") or f"{method}-{path}")}"><span class="m {_e(method)}">'
        f"{_e(method)}</span> <code>{_e(path)}</code></a> {_e(op.get('summary') or '')}</li>"
        for path, method, op, _ in operations
    ]
    out.append("</ul>")
    for path, method, op, shared in operations:
        out += _operation(path, method, op, shared)
    schemas = (spec.get("components") or {}).get("schemas") or {}
    if schemas:
        out.append("<h2>Schemas</h2>")
        for name in sorted(schemas):
            out += _schema_section(name, schemas[name])
    out.append("</body></html>")
    return "\n".join(out)


@dataclass
class EventStreamOperation(Operation):
    """An operation whose 2xx answer is (or, with ``stream: true``, may be) Server-Sent Events.

    Litestar documents the handler's return type as JSON; this adds ``text/event-stream``
    (and drops the JSON of a handler that only streams: ``only_events``). Its ``schema``
    describes one event, as OpenAPI 3.1 has it for a stream: an object with the event's
    name (one of ``events``) and its ``data``, a JSON text (``event_data``, when given, is
    the schema of the value it holds).
    """

    only_events: bool = False
    events: tuple[str, ...] = ()
    event_data: Reference | Schema | None = None

    def __post_init__(self) -> None:
        stream = OpenAPIMediaType(schema=event_schema(self.events, self.event_data))
        for status, response in (self.responses or {}).items():
            if status.startswith("2") and isinstance(response, OpenAPIResponse):
                content = {} if self.only_events else dict(response.content or {})
                response.content = {**content, "text/event-stream": stream}


def event_schema(events: tuple[str, ...] = (), data: Reference | Schema | None = None) -> Schema:
    """The schema of one Server-Sent Event: ``event`` (its name), ``data`` (JSON text), ``id``."""
    return Schema(
        type=OpenAPIType.OBJECT,
        required=["event", "data"],
        properties={
            "event": Schema(type=OpenAPIType.STRING, enum=list(events) or None, description="the event's name"),
            "data": Schema(
                type=OpenAPIType.STRING,
                content_media_type="application/json",
                content_schema=data,
                description="one JSON value (the lines 'data: ...' of the event, joined)",
            ),
            "id": Schema(type=OpenAPIType.STRING, description="the event's id, where it has one"),
        },
        description="One Server-Sent Event: lines 'event: NAME' and 'data: JSON', a blank line after each event",
    )
