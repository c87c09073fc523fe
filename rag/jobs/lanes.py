"""A lane's queue: jobs waiting per key (a collection), taken in turn across keys.

A lane is served by one or more worker threads. Each takes the next job from
:class:`FairQueue`: keys (an ingest job's collection id) are served
round-robin, the jobs of one key first in, first out, and a key whose job is
running is skipped, so one key holds at most one worker at a time. A job that
gives back its turn (more to do) goes first in its key's queue, and its key
goes to the back of the round: a collection with a thousand files waiting
takes one batch per round, a one-line upload of another collection waits for
at most the batches that are running when it arrives.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Hashable


class FairQueue:
    """Jobs of many keys, handed out round-robin across keys with at most one running per key."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._waiting: dict[Hashable, deque] = {}  # key -> its jobs, first in first out
        self._turns: deque[Hashable] = deque()  # keys with jobs waiting, the next to serve first
        self._running: dict[Hashable, object] = {}  # key -> the item running now
        self._closed = False

    def put(self, key: Hashable, item: object) -> None:
        """Queue ``item`` behind the other jobs of ``key``."""
        with self._cond:
            self._waiting.setdefault(key, deque()).append(item)
            if key not in self._turns:
                self._turns.append(key)
            self._cond.notify()

    def take(self) -> tuple[Hashable, object] | None:
        """The next item (blocking until one may run), or None once the queue is closed."""
        with self._cond:
            while not self._closed:
                for _ in range(len(self._turns)):
                    key = self._turns.popleft()
                    if key in self._running:  # its turn comes once its running job is back
                        self._turns.append(key)
                        continue
                    jobs = self._waiting[key]
                    item = jobs.popleft()
                    if jobs:
                        self._turns.append(key)
                    else:
                        del self._waiting[key]
                    self._running[key] = item
                    return key, item
                self._cond.wait()
            return None

    def release(self, key: Hashable, again: object | None = None) -> None:
        """``key``'s running item has ended its turn; ``again``: it has more to do, first of its key's jobs."""
        with self._cond:
            del self._running[key]
            if again is not None and not self._closed:
                self._waiting.setdefault(key, deque()).appendleft(again)
            if key in self._turns:  # it just had its turn: the others go first
                self._turns.remove(key)
            if key in self._waiting:
                self._turns.append(key)
            self._cond.notify_all()

    def busy(self) -> bool:
        """Whether an item runs or waits."""
        with self._cond:
            return bool(self._running or self._waiting)

    def close(self) -> None:
        """Hand out nothing more: waiting items stay where they are (a stopping process leaves them)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
