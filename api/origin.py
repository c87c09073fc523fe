"""Requests that a web page must not be able to make, refused before access control looks at the key.

A browser talks to this server on behalf of any page its user visits, and without
``RAG_ADMIN_KEY`` (the ``make serve`` default) the API does whatever it is asked. Two ways in:

* DNS rebinding: a page at ``evil.example`` points its name at 127.0.0.1, and the browser
  then takes this server for evil.example's own origin and lets the page read every answer.
  Those requests carry ``Host: evil.example``, so a Host that is not a name of this server
  (a loopback name or address, ``RAG_HOST``, ``RAG_ALLOWED_HOSTS``) is a 400.
* Cross-site writes: a page may send a form or a ``text/plain`` body to any address without
  asking first (no CORS preflight); it cannot read the answer, but the write is done. A
  route that takes a JSON body takes ``application/json`` only (a page cannot send that
  across sites without a preflight, which this server never grants): else 415. A write
  (POST, PUT, PATCH, DELETE) whose ``Origin`` is not this server's own is a 403 (browsers
  send Origin with every such request; clients such as curl and the CLI send none), and so
  is one a browser marks ``Sec-Fetch-Site: cross-site``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from litestar.connection import ASGIConnection
from litestar.enums import RequestEncodingType
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from api.errors import BadRequestError
from api.limits import has_body
from ingest.errors import UnsupportedMediaTypeError
from rag.hosts import host_name, is_loopback
from rag.settings import Settings

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Bind-all addresses name no host: a request never carries them as the name it asked for.
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})
DEFAULT_PORTS = {"http": 80, "https": 443}


class RequestChecks:
    """The app's first guard: Host, then Origin on writes, then the content type of a JSON body."""

    def __init__(self, settings: Settings) -> None:
        own = host_name(settings.host)
        self.configured = frozenset(settings.allowed_host_names) - {"*"}  # names the admin listed
        self.names = self.configured | ({own} - WILDCARD_HOSTS)
        self.any_host = "*" in settings.allowed_host_names

    async def __call__(self, connection: ASGIConnection, handler: BaseRouteHandler) -> None:
        # async: it reads headers only, so it runs on the event loop (Litestar runs a sync guard on a thread)
        self.check_host(connection)
        method = connection.scope.get("method", "GET")
        if method in WRITES:
            self.check_origin(connection)
        if _takes_json(handler):
            _check_json(connection)

    def allowed(self, name: str) -> bool:
        return self.any_host or name in self.names or is_loopback(name)

    def check_host(self, connection: ASGIConnection) -> None:
        host = connection.headers.get("host", "")
        if not self.allowed(host_name(host)):
            raise BadRequestError(
                f"this server does not answer to the host name {host!r} (the request's Host header): it answers to "
                "localhost, its loopback addresses and RAG_HOST. If clients reach it by that name, add the name to "
                "RAG_ALLOWED_HOSTS (comma-separated) and restart it"
            )

    def check_origin(self, connection: ASGIConnection) -> None:
        origin = connection.headers.get("origin")
        if origin is not None and not self._same_origin(origin, connection):
            raise PermissionDeniedException(
                f"a write from a web page at {origin!r} is refused: that is not this server's own origin. Use the "
                "server's own page, or a client that sends no Origin header (curl, the CLI); if it is this server "
                "behind a proxy, add that host name to RAG_ALLOWED_HOSTS"
            )
        if connection.headers.get("sec-fetch-site", "").lower() == "cross-site":
            raise PermissionDeniedException(
                "a write from a web page of another site is refused (Sec-Fetch-Site: cross-site); use the server's "
                "own page, or a client such as curl or the CLI"
            )

    def _same_origin(self, origin: str, connection: ASGIConnection) -> bool:
        """Whether ``origin`` (scheme://host[:port]) is the request's own: the same scheme, name and port as the
        request and its Host header; for a name the admin listed, https where the request came as http (TLS
        ended at a proxy in front of this server)."""
        host = connection.headers.get("host", "")
        try:
            parts = urlsplit(origin)
            port = parts.port or DEFAULT_PORTS.get(parts.scheme)
            host_port = urlsplit(f"//{host}").port
        except ValueError:
            return False  # a malformed origin or Host; "null" (a sandboxed or file: page) has no scheme below
        name = host_name(parts.hostname or "")
        if parts.scheme not in DEFAULT_PORTS or not name or name != host_name(host):
            return False
        scheme = connection.scope.get("scheme", "http")
        if name in self.configured and (scheme, parts.scheme) == ("http", "https"):
            scheme = "https"
        return parts.scheme == scheme and port == (host_port or DEFAULT_PORTS.get(scheme))


def _takes_json(handler: BaseRouteHandler) -> bool:
    """Whether the handler reads a JSON body: a ``data`` parameter without another request encoding."""
    data = handler.parsed_fn_signature.parameters.get("data")
    if data is None:
        return False
    encoding = getattr(data.kwarg_definition, "media_type", None) or RequestEncodingType.JSON
    return encoding == RequestEncodingType.JSON


def _check_json(connection: ASGIConnection) -> None:
    content_type = connection.headers.get("content-type", "")
    if not content_type and not has_body(dict(connection.scope["headers"])):
        return  # nothing to decode: validation says the body is missing
    media_type = content_type.partition(";")[0].strip().lower()
    kind, _, subtype = media_type.partition("/")
    if kind != "application" or not (subtype == "json" or subtype.endswith("+json")):
        got = f"got {content_type!r}" if content_type else "it has none"
        raise UnsupportedMediaTypeError(
            f"{connection.scope.get('method')} {connection.url.path} takes a JSON body: send it with "
            f"'Content-Type: application/json' ({got})"
        )
