"""API keys (rag.access): a revoke that races a lookup stays revoked, the cache holds known keys only, bounded."""

from __future__ import annotations

import secrets
import threading

import pytest

from core.errors import ConflictError
from rag.access import Keys
from rag.store import Store

ADMIN = "admin-key-for-the-access-tests"


class WatchedCatalog:
    """The real catalog, whose ``find_key`` counts its reads and can be held after reading the row (as a slow
    lookup would be)."""

    def __init__(self, catalog) -> None:
        self.catalog = catalog
        self.reads = 0
        self.hold = False
        self.read = threading.Event()  # set once a held lookup has read its row
        self.go_on = threading.Event()

    def __getattr__(self, name: str):
        return getattr(self.catalog, name)

    def find_key(self, key_hash: str):
        found = self.catalog.find_key(key_hash)
        self.reads += 1
        if self.hold:
            self.read.set()
            assert self.go_on.wait(30), "the test never let the lookup go on"
        return found


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "data", default_index_spec="Flat")
    yield store
    store.close()


@pytest.fixture
def collection(store):
    return store.get_or_create_collection("c", 4, "test-model")


def test_a_revoke_during_a_lookup_is_not_undone_by_it(store, collection):
    catalog = WatchedCatalog(store.catalog)
    keys = Keys(catalog, ADMIN)
    key_id, key = keys.create(collection, "read")
    catalog.hold = True
    looked_up = []
    lookup = threading.Thread(target=lambda: looked_up.append(keys.grant(key)))
    lookup.start()
    assert catalog.read.wait(30)  # the lookup has read the key's row, and not yet cached it
    keys.revoke(collection, key_id)
    catalog.go_on.set()
    lookup.join(30)
    catalog.hold = False
    assert looked_up and looked_up[0] is not None  # it began before the revoke: it may still pass
    assert keys.grant(key) is None  # but no request after the revoke does


def test_unknown_keys_are_not_cached(store, collection):
    keys = Keys(store.catalog, ADMIN)
    _, key = keys.create(collection, "write")
    for _ in range(2000):  # the issue measured 200,000 (+32.6 MB); any number must leave nothing behind
        assert keys.grant("rag_" + secrets.token_urlsafe(32)) is None
    assert len(keys._cache) == 0
    assert keys.grant(key).scope == "write" and len(keys._cache) == 1


def test_the_cache_is_bounded_and_keeps_the_keys_in_use(store, collection):
    catalog = WatchedCatalog(store.catalog)
    keys = Keys(catalog, ADMIN, cache_size=4)
    made = [keys.create(collection, "read")[1] for _ in range(10)]
    for key in made:
        assert keys.grant(key).collection_id == collection.id
        keys.grant(made[0])  # the key in use stays; the others pass through
    assert len(keys._cache) == 4
    reads = catalog.reads
    assert keys.grant(made[0]) is not None and keys.grant(made[-1]) is not None
    assert catalog.reads == reads  # both from the cache
    assert keys.grant(made[1]) is not None and catalog.reads == reads + 1  # pushed out: read again


def test_no_keys_are_made_while_keys_are_not_enforced(store, collection):
    keys = Keys(store.catalog, "")
    with pytest.raises(ConflictError, match="RAG_ADMIN_KEY"):
        keys.create(collection, "read")
    assert store.catalog.list_keys(collection.id) == []
