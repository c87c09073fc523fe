"""Who may join a collection's queue of uploads: caps, pending replacements, collections being deleted.

Each collection may have at most ``MAX_QUEUED_JOBS`` ingest jobs queued or
running, and at most a number of bytes of saved uploads waiting (the ingest
jobs' choice, a few of the largest uploads); past either an upload is refused
with :class:`QueueFullError` (HTTP 429 with Retry-After), so one key cannot
fill the disk or the queue. A lone upload is never refused for its size (the
request size limit bounds it): the byte cap applies while others wait.

A document has at most one replacement pending: a second one is refused
(409) until the first job ends, so two replacements of one document cannot
both store their file. A collection is not deleted while a job is queued or
running on it, and no upload joins it while it is being deleted.

The checks and the reservation happen under one lock; the reservation holds
while the upload's bytes are saved and its job created, after which the job
itself counts.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from core.errors import ConflictError, NotFoundError, RAGError
from rag.jobs.runner import JobRunner
from rag.store import Collection

# Ingest jobs queued or running per collection. The bytes cap is what guards the disk; this one bounds the
# jobs kept in memory and the catalog, and leaves room for a client that sends many small uploads faster than
# they are ingested (the crash test's client queues 20 in under 6 s).
MAX_QUEUED_JOBS = 100
RETRY_AFTER_S = 30  # what a refused upload is told to wait


class QueueFullError(RAGError):
    """A collection has as many uploads waiting as it may; send the request again later (HTTP 429)."""

    def __init__(self, message: str, retry_after_s: int = RETRY_AFTER_S) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(eq=False)
class _Saving:
    """An admitted upload whose job is not created yet."""

    size: int
    replace: int | None


class Admission:
    """The queue limits of collections, over the runner's unfinished jobs (see the module docstring)."""

    def __init__(self, runner: JobRunner, max_jobs: int = MAX_QUEUED_JOBS) -> None:
        self.runner = runner
        self.max_jobs = max_jobs
        self._lock = threading.Lock()
        self._saving: dict[int, list[_Saving]] = {}  # collection id -> admitted uploads not yet jobs
        self._deleting: set[int] = set()

    @contextmanager
    def admit(self, collection: Collection, size: int, replace: int | None, max_bytes: int) -> Iterator[None]:
        """Room for an upload of ``size`` bytes (replacing document ``replace``, if given) in the queue of
        ``collection``, held while the caller saves it and creates its job.

        Raises:
            QueueFullError: the collection has ``max_jobs`` jobs or ``max_bytes`` bytes waiting.
            ConflictError: ``replace`` has a replacement pending, or the collection is being deleted.
            NotFoundError: the collection was deleted (its name may now be another collection's).
        """
        held = _Saving(size, replace)
        with self._lock:
            self._check(collection, held, max_bytes)
            self._saving.setdefault(collection.id, []).append(held)
        try:
            yield
        finally:
            with self._lock:
                saving = self._saving[collection.id]
                saving.remove(held)
                if not saving:
                    del self._saving[collection.id]

    def _check(self, collection: Collection, held: _Saving, max_bytes: int) -> None:
        name = collection.name
        current = self.runner.catalog.find_collection(name)
        if current is None or current.id != collection.id:
            raise NotFoundError(f"collection {name!r} was deleted while this upload was sent; nothing was stored")
        if collection.id in self._deleting:
            raise ConflictError(f"collection {name!r} is being deleted; send the upload again once it is gone")
        jobs = self.runner.active(collection.id)
        saving = self._saving.get(collection.id, [])
        if held.replace is not None:
            pending = next((j for j in jobs if j.request.get("replace") == held.replace), None)
            if pending is not None:
                raise ConflictError(
                    f"document {held.replace} is already being replaced by job {pending.id}; wait for it to end "
                    f"(GET /v1/jobs/{pending.id}), then replace the document it stored"
                )
            if any(s.replace == held.replace for s in saving):
                raise ConflictError(f"document {held.replace} is already being replaced by another upload; wait "
                                    "for its job to end, then replace the document it stored")  # fmt: skip
        waiting = len(jobs) + len(saving)
        if waiting >= self.max_jobs:
            raise QueueFullError(
                f"collection {name!r} has {waiting} upload jobs queued or running, the most it may have: send "
                "this one again once some have ended (GET /v1/jobs lists them)"
            )
        queued = sum(f.size_bytes for j in jobs for f in j.files if not f.final) + sum(s.size for s in saving)
        if queued and queued + held.size > max_bytes:
            raise QueueFullError(
                f"collection {name!r} has {queued:,} bytes of uploads waiting to be ingested, and this upload's "
                f"{held.size:,} more would pass its limit of {max_bytes:,}: send it again once some jobs have "
                "ended (GET /v1/jobs lists them)"
            )

    @contextmanager
    def deleting(self, collection: Collection) -> Iterator[None]:
        """Hold off uploads to ``collection`` while the caller deletes it.

        Raises:
            ConflictError: an ingest job is queued or running on it, or an upload to it is being saved.
        """
        with self._lock:
            jobs = self.runner.active(collection.id)
            if jobs:
                raise ConflictError(
                    f"ingest job {jobs[0].id} is still writing to collection {collection.name!r}; delete it once "
                    f"the job ends (GET /v1/jobs/{jobs[0].id})"
                )
            if collection.id in self._saving:
                raise ConflictError(f"an upload to collection {collection.name!r} is being saved; delete it once "
                                    "its job ends (GET /v1/jobs lists it)")  # fmt: skip
            self._deleting.add(collection.id)
        try:
            yield
        finally:
            with self._lock:
                self._deleting.discard(collection.id)
