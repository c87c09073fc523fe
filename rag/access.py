"""API keys: who may read or write which collection.

Keys are enforced when the server has an admin key (``RAG_ADMIN_KEY``). The admin
key may do anything; it creates per-collection keys with the scope ``read``
(list, get, search, ask) or ``write`` (read, and upload, replace, delete
documents, compact). A key is 32 random bytes, shown once when it is created;
the catalog keeps only its SHA-256 (a key has too much entropy for a slow hash
to add anything), and a lookup compares hashes in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass

from indexes.errors import InvalidInputError
from rag.store import Catalog, Collection

SCOPES = ("read", "write")
KEY_PREFIX = "rag_"


@dataclass(frozen=True)
class Grant:
    """What a request's key allows: everything (admin), or one collection with a scope."""

    admin: bool = False
    collection_id: int | None = None
    scope: str | None = None  # "read" | "write"

    def allows(self, collection_id: int | None, need: str) -> bool:
        """Whether this grant covers ``need`` ("read", "write" or "admin") on a collection (None: none)."""
        if self.admin:
            return True
        if need == "admin" or collection_id is None or collection_id != self.collection_id:
            return False
        return need == "read" or self.scope == "write"


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Keys:
    """The admin key and the catalog's collection keys, with a cache of the lookups."""

    def __init__(self, catalog: Catalog, admin_key: str) -> None:
        self.catalog = catalog
        self.admin_hash = key_hash(admin_key) if admin_key else None
        self._cache: dict[str, Grant | None] = {}
        self._lock = threading.Lock()

    @property
    def enforced(self) -> bool:
        return self.admin_hash is not None

    def grant(self, key: str) -> Grant | None:
        """The grant of ``key``, or None for a key that is not one."""
        digest = key_hash(key)
        if self.admin_hash is not None and hmac.compare_digest(digest, self.admin_hash):
            return Grant(admin=True)
        with self._lock:
            if digest in self._cache:
                return self._cache[digest]
        found = self.catalog.find_key(digest)
        grant = Grant(collection_id=found[1], scope=found[2]) if found else None
        with self._lock:
            self._cache[digest] = grant
        return grant

    def create(self, collection: Collection, scope: str) -> tuple[int, str]:
        """A new key for ``collection``: (its id, the key, shown this once)."""
        if scope not in SCOPES:
            raise InvalidInputError(f"scope must be 'read' or 'write', got {scope!r}")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        key_id = self.catalog.add_key(collection.id, scope, key_hash(key), key[: len(KEY_PREFIX) + 4])
        with self._lock:
            self._cache.clear()  # a miss for this hash may be cached
        return key_id, key

    def revoke(self, collection: Collection, key_id: int) -> None:
        self.catalog.delete_key(collection.id, key_id)
        with self._lock:
            self._cache.clear()

    def forget(self) -> None:
        """Drop cached lookups (after a collection and its keys are deleted)."""
        with self._lock:
            self._cache.clear()
