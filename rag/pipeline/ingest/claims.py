"""Claims on uploads' bytes, so that concurrent uploads of the same file store it once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager


class Claims:
    """The right to store given bytes (by sha256) in a collection, held by one upload at a time."""

    def __init__(self) -> None:
        self._claims: dict[tuple[int, str], tuple[threading.Lock, int]] = {}
        self._claims_lock = threading.Lock()

    @contextmanager
    def hold_all(self, collection_id: int, shas: list[str]) -> Iterator[None]:
        """Hold the claims of several uploads, taken in sorted order so two batches never wait on each other."""
        with ExitStack() as stack:
            for sha in sorted(set(shas)):
                stack.enter_context(self.hold(collection_id, sha))
            yield

    @contextmanager
    def hold(self, collection_id: int, sha256: str) -> Iterator[None]:
        """Hold the right to store these bytes in this collection.

        A second upload of the same bytes waits here while the first is embedded,
        then finds it stored and answers "duplicate" without embedding it again.
        """
        key = (collection_id, sha256)
        with self._claims_lock:
            lock, users = self._claims.get(key, (threading.Lock(), 0))
            self._claims[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._claims_lock:
                lock, users = self._claims[key]
                if users == 1:
                    del self._claims[key]
                else:
                    self._claims[key] = (lock, users - 1)
