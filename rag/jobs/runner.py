"""One job runner for ingest and benchmark jobs.

Jobs run on lanes, each served by its worker threads from a :class:`FairQueue`
(:mod:`rag.jobs.lanes`): jobs are keyed by their collection, keys are served
round-robin and one key runs one job at a time. "ingest" has
``INGEST_WORKERS`` workers, so a collection whose file takes a parser's whole
time limit holds one of them while the others serve every other collection,
and its jobs give back their turn between batches; "benchmark" has one (one
run at a time; a second is refused while one runs). Every change to a job
bumps its ``version`` and wakes its watchers (the jobs API's event stream, a
synchronous upload) and, at a change of state, is written to the catalog's
jobs table, so the state outlives the process. What a stopped process left
unfinished is resumed or failed when the next one opens the store
(:meth:`JobRunner.adopt`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable
from datetime import UTC, datetime

from core.errors import ConflictError, NotFoundError
from rag.heap import release_free_heap
from rag.jobs.job import Job
from rag.jobs.lanes import FairQueue
from rag.store import Catalog

log = logging.getLogger(__name__)

# One turn of a job; True: it has more to do and runs again at its collection's next turn.
Work = Callable[[Job], bool | None]
KEEP_FINISHED = 200  # finished jobs kept in memory (older ones are read from the catalog)
INGEST_WORKERS = 2  # one collection holds at most one; the other serves the rest meanwhile


class Stopping(Exception):
    """The runner is closing: the job stops at a safe point and is resumed by the next process."""


class JobRunner:
    """Jobs in memory and in the catalog, run on lanes.

    Args:
        workers: worker threads per lane (lanes not named get one; "ingest" ``INGEST_WORKERS``).
    """

    def __init__(self, catalog: Catalog, workers: dict[str, int] | None = None) -> None:
        self.catalog = catalog
        self.workers = {"ingest": INGEST_WORKERS, **(workers or {})}
        self._jobs: dict[int, Job] = {}
        self._changed = threading.Condition()
        self._queues: dict[str, FairQueue] = {}
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    # -- creating and running -------------------------------------------------
    def create(self, kind: str, collection_id: int | None, job: Job) -> Job:
        """Record a new job of a collection (or of none) and keep it in memory; its ``id``, ``created_at`` and
        ``collection_id`` are set here."""
        job.collection_id = collection_id
        job.id = self.catalog.start_job(kind, collection_id, job.detail(), status=job.status)
        job.created_at = self.catalog.get_job(job.id)["created_at"].isoformat()
        self.adopt(job)
        return job

    def adopt(self, job: Job) -> None:
        """Keep ``job`` (created here or read back from the catalog) in memory, where watchers see it."""
        with self._changed:
            self._jobs[job.id] = job
            finished = [j for j in self._jobs.values() if j.final]
            for old in sorted(finished, key=lambda j: j.id)[:-KEEP_FINISHED]:
                del self._jobs[old.id]

    def submit(self, lane: str, job: Job, work: Work, exclusive: bool = False) -> None:
        """Queue ``work(job)`` on ``lane`` behind the jobs of its collection; with ``exclusive``, refuse it while
        the lane is busy. ``work`` returns True while it has more to do: it runs again at the next turn."""
        if self._stopping.is_set():
            raise ConflictError("the server is shutting down; send the request again once it is back")
        with self._changed:
            if exclusive and self.busy(lane):
                raise ConflictError(f"a {lane} job is already running; wait for it to finish")
            if lane not in self._queues:
                self._queues[lane] = FairQueue()
                for n in range(self.workers.get(lane, 1)):
                    thread = threading.Thread(target=self._serve, args=(lane,), daemon=True, name=f"jobs-{lane}-{n}")
                    self._threads.append(thread)
                    thread.start()
            self._queues[lane].put(_key(job), (job, work))

    def busy(self, lane: str) -> bool:
        return lane in self._queues and self._queues[lane].busy()

    def _serve(self, lane: str) -> None:
        lanes = self._queues[lane]
        while (taken := lanes.take()) is not None:
            key, (job, work) = taken
            more = False
            try:
                more = bool(work(job))
            except Stopping:
                log.info("job %d stops with the server; the next start resumes it", job.id)
            except Exception as exc:  # the job records the failure; the runner keeps serving
                log.exception("job %d failed", job.id)
                self.update(job, status="failed", error=f"{type(exc).__name__}: {exc}")
            finally:
                release_free_heap()  # a turn's activations (an embedding batch: ~130 MB) go back to the OS
                lanes.release(key, (job, work) if more and not job.final else None)

    def checkpoint(self) -> None:
        """Raise :class:`Stopping` if the runner is closing (work calls it between steps)."""
        if self._stopping.is_set():
            raise Stopping()

    def close(self, timeout: float = 60.0) -> None:
        """Stop taking jobs; let running ones reach a safe point (``checkpoint``) and wait for them."""
        self._stopping.set()
        for lanes in self._queues.values():
            lanes.close()  # jobs still waiting stay queued in the catalog: the next start resumes them
        for thread in self._threads:
            thread.join(timeout)

    # -- state ------------------------------------------------------------
    def update(self, job: Job, persist: bool = True, **changes) -> None:
        """Apply ``changes`` to ``job``, wake its watchers, and (``persist``) write it to the catalog."""
        with self._changed:
            for name, value in changes.items():
                setattr(job, name, value)
            if job.final and job.finished_at is None:
                job.finished_at = datetime.now(UTC).isoformat()
            job.version += 1
            self._changed.notify_all()
        if persist:
            self.catalog.update_job(job.id, job.status, job.detail(), job.error)

    def get(self, job_id: int, kind: str | None = None) -> Job:
        with self._changed:
            job = self._jobs.get(job_id)
        if job is None:
            job = Job.from_row(self.catalog.get_job(job_id))
        if kind is not None and job.kind != kind:
            raise NotFoundError(f"{kind} job {job_id} does not exist")
        return job

    def list(self, kind: str | None = None, limit: int = 50, collection_id: int | None = None) -> list[Job]:
        """The most recent jobs first (of ``collection_id`` only, if given), as this process knows them."""
        rows = self.catalog.list_jobs(kind, limit, collection_id=collection_id)
        with self._changed:
            return [self._jobs.get(r["id"]) or Job.from_row(r) for r in rows]

    def active(self, collection_id: int) -> list[Job]:
        """Unfinished jobs of this process on the collection ``collection_id``, oldest first."""
        with self._changed:
            jobs = [j for j in self._jobs.values() if not j.final and j.collection_id == collection_id]
        return sorted(jobs, key=lambda j: j.id)

    def wait(self, job_id: int, after_version: int = -1, timeout: float | None = None) -> Job:
        """The job once its version passes ``after_version`` or it is final (or ``timeout`` passes)."""
        job = self.get(job_id)
        with self._changed:
            self._changed.wait_for(lambda: job.version > after_version or job.final, timeout)
        return job

    def wait_final(self, job_id: int) -> Job:
        job = self.get(job_id)
        with self._changed:
            self._changed.wait_for(lambda: job.final)
        return job


def _key(job: Job) -> Hashable:
    """What a job takes turns by: its collection (by id; by name for a job written before jobs had ids)."""
    return job.collection_id if job.collection_id is not None else ("name", job.collection)
