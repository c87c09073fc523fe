"""API keys of a collection: create (shown once), list (without the keys), revoke. The admin key only.

A server without an admin key creates none (409): anyone who reaches an open server could
make one, and it would stay valid once keys are enforced.
"""

from __future__ import annotations

import msgspec
from litestar import Controller, delete, get, post

from api.openapi import error_responses
from rag.access import Keys
from rag.store import Catalog, Collection, KeyRecord


class KeyIn(msgspec.Struct, forbid_unknown_fields=True):
    scope: str  # "read": list, get, search, ask; "write": read, and upload, replace, delete, compact


class KeyCreated(msgspec.Struct):
    id: int
    collection: str
    scope: str
    key: str  # shown this once: only its hash is kept


class KeyInfo(msgspec.Struct):
    id: int
    scope: str
    prefix: str  # the key's first characters, to tell keys apart
    created_at: str


class KeyList(msgspec.Struct):
    collection: str
    keys: list[KeyInfo]


def key_info(key: KeyRecord) -> KeyInfo:
    """The response shape of a listed key (never the key itself: only its hash is kept)."""
    return KeyInfo(key.id, key.scope, key.prefix, key.created_at.isoformat())


class KeyController(Controller):
    path = "/v1/collections/{name:str}/keys"
    tags = ["keys"]

    @post(
        operation_id="createKey",
        responses=error_responses(400, 401, 403, 404, 409, 413, 415, 422, 500),
        status_code=201,
        sync_to_thread=True,
        summary="Create a key with read or write scope on this collection (the admin key only)",
        description="409 on a server without RAG_ADMIN_KEY: keys are not enforced there, so none are made.",
    )
    def create(self, collection: Collection, data: KeyIn, keys: Keys) -> KeyCreated:
        key_id, key = keys.create(collection, data.scope)
        return KeyCreated(key_id, collection.name, data.scope, key)

    @get(
        operation_id="listKeys",
        responses=error_responses(400, 401, 403, 404, 422, 500),
        sync_to_thread=True,
        summary="The collection's keys (ids, scopes, first characters; never the keys)",
    )
    def list_keys(self, collection: Collection, catalog: Catalog) -> KeyList:
        return KeyList(collection.name, [key_info(k) for k in catalog.list_keys(collection.id)])

    @delete(
        "/{key_id:int}",
        operation_id="deleteKey",
        responses=error_responses(400, 401, 403, 404, 422, 500),
        status_code=204,
        sync_to_thread=True,
        summary="Revoke a key",
    )
    def revoke(self, collection: Collection, key_id: int, keys: Keys) -> None:
        keys.revoke(collection, key_id)
