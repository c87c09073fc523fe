"""Who calls an MCP tool, and which collections that caller may read.

Over streamable HTTP (``/mcp`` in the REST app) the app's guard (:func:`api.auth.authorize`) has checked the
request's ``Authorization: Bearer`` key and left its grant in the request's scope: the admin key reads every
collection, a collection key only its own, and without ``RAG_ADMIN_KEY`` the server is open. Over stdio the
caller is the process of the user who owns the data directory, who may read all of it anyway.
"""

from __future__ import annotations

from typing import Any

from api.auth import OPEN
from core.errors import InvalidInputError, NotFoundError, RAGError
from rag.access import Grant
from rag.platform import Platform
from rag.store import Collection, check_collection_name


class AccessDeniedError(RAGError):
    """The caller's key does not cover what a tool was asked to read."""


class Access:
    """The grant of a call and the collections it may read, with the server's default collection."""

    def __init__(self, platform: Platform, default_collection: str | None = None) -> None:
        self.platform = platform
        self.default_collection = default_collection

    def grant(self, request: Any | None) -> Grant:
        """The grant of the HTTP request a call came in (None: stdio, the data directory's own user)."""
        if request is None:
            return OPEN
        grant = request.scope.get("state", {}).get("grant")
        if grant is not None:
            return grant
        if self.platform.keys.enforced:  # never reached through the guard; refuse rather than open
            raise AccessDeniedError("this server requires an API key: send it as 'Authorization: Bearer KEY'")
        return OPEN

    def readable(self, request: Any | None) -> list[Collection]:
        """The collections the caller may read, by name."""
        grant = self.grant(request)
        return [c for c in self.platform.store.catalog.list_collections() if grant.allows(c.id, "read")]

    def collection(self, request: Any | None, name: str | None) -> Collection:
        """The collection a call names (else the default: the server's, or a collection key's own), checked.

        A collection key is told the same for a collection that does not exist as for one of another key, so
        that it cannot learn which names exist.

        Raises:
            InvalidInputError: no collection named and none to default to, or a name that is not valid.
            AccessDeniedError: the key does not cover the collection.
            NotFoundError: no collection has that name.
        """
        grant = self.grant(request)
        catalog = self.platform.store.catalog
        name = name or self.default_collection or self._own_name(grant)
        if not name:
            raise InvalidInputError(
                "name a collection in the 'collection' argument: list_collections shows those you may read"
            )
        found = catalog.find_collection(check_collection_name(name))
        if not grant.allows(found.id if found else None, "read"):
            raise AccessDeniedError(
                f"this API key does not allow reading collection {name!r}: a collection key reads only its own "
                "collection (list_collections shows it)"
            )
        if found is None:
            raise NotFoundError(
                f"collection {name!r} does not exist; list_collections shows the collections you may read"
            )
        return found

    def _own_name(self, grant: Grant) -> str | None:
        if grant.collection_id is None:
            return None
        own = [c.name for c in self.platform.store.catalog.list_collections() if c.id == grant.collection_id]
        return own[0] if own else None
