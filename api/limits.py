"""Limits at the door: how large a body may be, what is read of one refused, and which ids can exist.

* Bodies: every route takes at most :data:`JSON_BODY_LIMIT` (its JSON fields
  need a few KB), refused with a 413 that names the limit as soon as the
  Content-Length announces more, before anything is read. The upload routes
  set their own, larger limit (:mod:`api.uploads`).
* A refused body is still read, and dropped, before the answer is sent
  (:class:`ReadBeforeAnswering`): a server that answers and closes while the
  client is still sending resets the connection, and clients that send the
  whole body before reading (urllib, requests) then report "connection reset"
  instead of the 413 and its message. At most :data:`DISCARD_LIMIT` bytes
  (and :data:`DISCARD_SECONDS`) are read so; past that the connection closes.
* Ids: the catalog's ids are 64-bit integers, so an id path parameter beyond
  that range names nothing: a 404 (:func:`ids_in_range`), not a database error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import NotFoundError

__all__ = [
    "DISCARD_LIMIT",
    "DISCARD_SECONDS",
    "JSON_BODY_LIMIT",
    "MAX_ID",
    "MIN_ID",
    "ReadBeforeAnswering",
    "has_body",
    "ids_in_range",
]

log = logging.getLogger(__name__)

JSON_BODY_LIMIT = 1024 * 1024
DISCARD_LIMIT = 256 * 1024 * 1024  # bandwidth only: what is read is dropped at once
DISCARD_SECONDS = 60.0  # a client that sends slowly gets its connection closed instead
MIN_ID, MAX_ID = -(2**63), 2**63 - 1  # the catalog's ids are BIGINT (int64)


async def ids_in_range(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """A guard: an id path parameter that is no 64-bit integer is a 404 (async: no thread for a comparison).

    Raises:
        NotFoundError: naming the parameter and the range ids have.
    """
    for name, value in connection.path_params.items():
        if type(value) is int and not MIN_ID <= value <= MAX_ID:
            what = name.removesuffix("_id")
            raise NotFoundError(f"there is no {what} {value}: ids are 64-bit integers, at most {MAX_ID}")


class ReadBeforeAnswering(ASGIMiddleware):
    """Read (and drop) what is left of a request's body before its response starts; see the module docstring."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        headers = dict(scope["headers"])
        if not has_body(headers):
            await next_app(scope, receive, send)
            return
        length = headers.get(b"content-length", b"")
        expects_continue = headers.get(b"expect", b"").lower() == b"100-continue"
        body = _Body(receive, expects_continue, int(length) if length.isdigit() else None)

        async def send_after_body(message: Message) -> None:
            if message["type"] == "http.response.start":
                await body.discard_rest()
            await send(message)

        await next_app(scope, body.receive, send_after_body)


class _Body:
    """One request's body as the app reads it: whether it has all been read."""

    def __init__(self, receive: Receive, expects_continue: bool, announced: int | None) -> None:
        self._receive = receive
        self.expects_continue = expects_continue
        self.announced = announced  # the Content-Length, if sent
        self.started = self.done = False

    async def receive(self) -> Message:
        message = await self._receive()
        self.started = True
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.done = True
        return message

    async def discard_rest(self) -> None:
        # A client waiting for "100 Continue" has sent nothing yet: reading would ask it for the body.
        if self.done or (self.expects_continue and not self.started):
            return
        if self.announced is not None and self.announced > DISCARD_LIMIT:
            return  # it would be cut short anyway: close at once
        dropped = 0
        try:
            async with asyncio.timeout(DISCARD_SECONDS):
                while not self.done and dropped <= DISCARD_LIMIT:
                    message = await self.receive()
                    dropped += len(message.get("body", b""))
        except TimeoutError:
            pass
        if not self.done:
            log.info("answered before the end of a request body (%d bytes read and dropped): the client may "
                     "see its connection reset", dropped)  # fmt: skip


def has_body(headers: Mapping[bytes, bytes]) -> bool:
    """Whether a request with these headers (lower-case names, as ASGI gives them) sends a body."""
    return headers.get(b"content-length", b"0") not in (b"0", b"") or b"transfer-encoding" in headers
