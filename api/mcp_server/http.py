"""The MCP server over streamable HTTP at ``/mcp``, served by the REST app, behind its guards.

The app's guards see ``/mcp`` as any route: the Host and Origin checks (:mod:`api.origin`, which also stop
DNS rebinding, so the SDK's own host check is off and RAG_ALLOWED_HOSTS applies alike), then the key
(:mod:`api.auth`, rule ``mcp``: any valid key, none when keys are not enforced). The tools then check the
request's grant against the collection each call names (:mod:`api.mcp_server.access`).

Sessions are stateless: every POST carries its own key and is served alone, so a session can never outlive
a revoked key or pass from one key to another, and nothing is kept between requests. The SDK's session
manager runs for the app's lifetime (:func:`serve_mcp`, entered in the app's lifespan).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.exceptions import MethodNotAllowedException
from litestar.handlers import ASGIRouteHandler
from litestar.types import Receive, Scope, Send
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecuritySettings

from api.mcp_server.server import build_server
from rag.platform import Platform

PATH = "/mcp"
OPERATION_ID = "mcp"  # its rule in api.auth.ACCESS


class NamedASGIHandler(ASGIRouteHandler):
    """An ASGI app's route with an operation id, by which the app's guard finds its access rule."""

    def __init__(self, *args, operation_id: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.operation_id = operation_id


async def _mcp(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["method"] == "GET":
        # A GET opens the stream of server-initiated messages; stateless sessions send none, and the SDK would
        # hold such a stream open for nothing. The protocol lets a server refuse it with a 405.
        raise MethodNotAllowedException(
            f"{PATH} takes POST requests only (its MCP sessions are stateless: no stream to GET)",
            headers={"Allow": "POST"},
        )
    await scope["app"].state.mcp_http(scope, receive, send)


# One path, not a mount: the SDK serves one endpoint, and paths below it are the app's 404s.
MCP_ROUTE = NamedASGIHandler(PATH, copy_scope=True, operation_id=OPERATION_ID)(_mcp)


@asynccontextmanager
async def serve_mcp(app: Litestar, platform: Platform) -> AsyncIterator[None]:
    """Serve ``/mcp`` while the app runs: the MCP server over ``platform`` and its session manager."""
    server = build_server(platform)
    # Only its session manager is used (MCP_ROUTE hands it the requests); the Starlette app it comes with is not.
    server.streamable_http_app(
        stateless_http=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),  # api.origin does it
    )
    app.state.mcp_http = StreamableHTTPASGIApp(server.session_manager)
    async with server.session_manager.run():
        yield
