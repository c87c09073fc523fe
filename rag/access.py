"""API keys: who may read or write which collection.

Keys are enforced when the server has an admin key (``RAG_ADMIN_KEY``); without one
none can be created (the open server would hand them to anyone). The admin key may do
anything; it creates per-collection keys with the scope ``read``
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
from collections import OrderedDict
from dataclasses import dataclass

from core.errors import ConflictError, InvalidInputError
from rag.store import Catalog, Collection

SCOPES = ("read", "write")
KEY_PREFIX = "rag_"
CACHE_SIZE = 4096  # grants kept; past it the least recently used go (each costs a catalog lookup again)


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
    """The admin key and the catalog's collection keys, with a bounded cache of the keys found.

    Only keys that exist are cached (a flood of made-up keys costs one catalog lookup each and
    no memory), the least recently used first out past ``cache_size``. A revoke must never be
    undone by a lookup that read the catalog just before it: every change of the keys bumps
    ``_generation`` under the lock, and a lookup caches its grant only if no change happened
    since it began.
    """

    def __init__(self, catalog: Catalog, admin_key: str, cache_size: int = CACHE_SIZE) -> None:
        self.catalog = catalog
        self.admin_hash = key_hash(admin_key) if admin_key else None
        self.cache_size = cache_size
        self._cache: OrderedDict[str, Grant] = OrderedDict()  # key hash -> grant, least recently used first
        self._generation = 0
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
            cached = self._cache.get(digest)
            if cached is not None:
                self._cache.move_to_end(digest)
                return cached
            generation = self._generation
        found = self.catalog.find_key(digest)  # outside the lock: lookups of other keys go on meanwhile
        if found is None:
            return None
        grant = Grant(collection_id=found[1], scope=found[2])
        with self._lock:
            if generation == self._generation:  # no revoke since the catalog was read: the grant is current
                self._cache[digest] = grant
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return grant

    def create(self, collection: Collection, scope: str) -> tuple[int, str]:
        """A new key for ``collection``: (its id, the key, shown this once).

        Raises:
            ConflictError: the server has no admin key, so keys are not enforced: a key made now would
                be made by anyone who reached the open server, and would stay valid once keys are.
        """
        if not self.enforced:
            raise ConflictError(
                "API keys are not enforced on this server (RAG_ADMIN_KEY is not set), so none can be created: "
                "set RAG_ADMIN_KEY, restart the server and create keys with the admin key"
            )
        if scope not in SCOPES:
            raise InvalidInputError(f"scope must be 'read' or 'write', got {scope!r}")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        key_id = self.catalog.add_key(collection.id, scope, key_hash(key), key[: len(KEY_PREFIX) + 4])
        return key_id, key

    def revoke(self, collection: Collection, key_id: int) -> None:
        self.catalog.delete_key(collection.id, key_id)
        self.forget()

    def forget(self) -> None:
        """Drop cached grants (after keys are revoked, or a collection and its keys are deleted)."""
        with self._lock:
            self._generation += 1
            self._cache.clear()
