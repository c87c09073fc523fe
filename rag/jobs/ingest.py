"""Ingest as background jobs: uploads are checked and saved, then parsed, embedded and indexed on a worker.

``submit`` checks every file (size, type, emptiness: a bad one is a 4xx and
nothing is queued), writes the bytes under ``<data_dir>/jobs/<id>/`` with an
fsync, records the job as queued and returns: from then on the upload is safe.
An upload to a new name creates the collection here, so that the job carries
the id of the collection it writes to. Each collection's queue is capped
(:mod:`rag.jobs.admission`: jobs, and bytes waiting, ``QUEUED_UPLOADS`` of the
largest uploads); past a cap the upload is refused with 429. The worker's
side, a job's turns, is :mod:`rag.jobs.ingest_turns`.

A job that a stop interrupted is resumed by the next process from its saved
files: files already stored are skipped (their state was recorded), and a
file stored just before the stop is found by its bytes (reported as a
duplicate of the document it became).
A job whose files were not all saved is marked failed with that reason.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from core.errors import InvalidInputError, NotFoundError
from ingest.errors import DocumentParseError
from rag.access import Grant
from rag.jobs.admission import MAX_QUEUED_JOBS, Admission
from rag.jobs.ingest_turns import Engine, IngestTurns
from rag.jobs.job import FileState, Job
from rag.jobs.runner import JobRunner
from rag.pipeline.ingest import IngestPipeline
from rag.store import Collection, Store
from rag.store.lifecycle import check_index_choice
from rag.store.manifest import fsync_paths

log = logging.getLogger(__name__)

LANE = "ingest"
QUEUED_UPLOADS = 8  # bytes a collection may have waiting: this many uploads of the largest size


class IngestJobs(IngestTurns):
    """Uploads checked, saved and queued as ingest jobs; their turns on the runner's ingest lane."""

    def __init__(
        self,
        runner: JobRunner,
        store: Store,
        pipeline: Callable[[], IngestPipeline],
        engine: Engine | None = None,
        max_queued_jobs: int = MAX_QUEUED_JOBS,
        max_queued_bytes: int | None = None,
    ) -> None:
        """``pipeline`` returns the ingest pipeline (loading the embedder on first use); ``engine``, when given,
        parses, embeds and stores the files instead (the Ray engine: ``Platform.ray_ingest``).
        ``max_queued_jobs`` and ``max_queued_bytes`` cap each collection's queue (None: ``QUEUED_UPLOADS``
        times the pipeline's upload size limit)."""
        self.runner = runner
        self.store = store
        self.pipeline = pipeline
        self.engine = engine
        self.max_queued_bytes = max_queued_bytes
        self.admission = Admission(runner, max_queued_jobs)
        self.root = store.data_dir / "jobs"
        self.passwords: dict[int, str] = {}  # job id -> its upload's password, until the job ends (memory only)

    # -- the request ------------------------------------------------------
    def submit(
        self,
        collection: str,
        files: list[tuple[str, bytes, str | None]],
        index_spec: str | None = None,
        replace: int | None = None,
        grant: Grant | None = None,
        password: str | None = None,
    ) -> Job:
        """Check ``files`` (filename, bytes, media type or None), save them and queue their job.

        Args:
            index_spec: the index of a collection this job creates.
            replace: a document of the collection that the (single) file replaces once it is stored.
            grant: what the request's key allows (checked again here, against the collection the name
                names now: a key of a collection deleted while the upload was sent gets nothing).
            password: opens the encrypted Office files of the upload. It is kept in this process's memory for
                the job only: never saved with the files nor recorded, so a job resumed after a stop parses
                without it (an encrypted file then fails, saying a password is needed).
        Raises:
            a 4xx-class RAGError for a bad file, name or spec, QueueFullError for a full queue; nothing is
            saved then (a new collection is created once the files are checked).
        """
        if replace is not None and len(files) != 1:
            raise InvalidInputError(f"a document is replaced by one file; this request has {len(files)}")
        pipeline = self.pipeline()
        media = pipeline.check(collection, files, index_spec)  # every 4xx check, once: the worker trusts them
        target = self._target(collection, index_spec, replace, grant, pipeline)
        job = Job(
            id=0,
            kind="ingest",
            status="queued",
            created_at="",
            collection=collection,
            request={"index_spec": index_spec, "replace": replace},
            files=[FileState(name, len(data), m) for (name, data, _), m in zip(files, media)],
        )
        size = sum(len(data) for _, data, _ in files)
        max_bytes = self.max_queued_bytes or QUEUED_UPLOADS * pipeline.max_upload_bytes
        with self.admission.admit(target, size, replace, max_bytes):
            staging = self.save(files)
            try:
                self.runner.create("ingest", target.id, job)
                if password:
                    self.passwords[job.id] = password
                staging.rename(self.folder(job.id))
                fsync_paths([self.root])
            except BaseException as exc:
                shutil.rmtree(staging, ignore_errors=True)
                self.passwords.pop(job.id, None)
                if job.id:  # recorded but not saved: never to run
                    self.runner.update(job, status="failed", error=f"the upload could not be saved: {exc}")
                raise
        self.runner.submit(LANE, job, self.run)
        return job

    def _target(
        self, name: str, index_spec: str | None, replace: int | None, grant: Grant | None, pipeline: IngestPipeline
    ) -> Collection:
        """The collection an upload goes to, created if it is new (and the key may create it)."""
        found = self.store.catalog.find_collection(name)
        if grant is not None and not grant.allows(found.id if found else None, "write"):
            raise NotFoundError(f"collection {name!r} was deleted while this upload was sent; nothing was stored")
        if found is None:
            if replace is not None:
                self.store.catalog.get_collection(name)  # a replacement needs its collection: 404
            return pipeline.open_collection(name, index_spec)  # for the pipeline's embedder, with the index asked
        check_index_choice(found, index_spec)
        if replace is not None:
            self.store.catalog.get_document(found.id, replace)
        return found

    def deleting(self, collection: Collection) -> AbstractContextManager[None]:
        """Hold off uploads to ``collection`` while the caller deletes it (``with jobs.deleting(c): ...``);
        ConflictError while a job is queued or running on it."""
        return self.admission.deleting(collection)

    def save(self, files: list[tuple[str, bytes, str | None]]) -> Path:
        """Write the uploads' bytes to a new staging folder, flushed to disk."""
        staging = self.root / f".staging-{uuid.uuid4().hex}"
        staging.mkdir(parents=True)
        paths = []
        for i, (_, data, _) in enumerate(files):
            path = staging / f"{i}.upload"
            with open(path, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            paths.append(path)
        fsync_paths([staging])
        return staging

    # -- after a stop -----------------------------------------------------
    def resume(self) -> int:
        """Queue again the ingest jobs a stopped process left unfinished; fail those it cannot; return how many
        were queued. Call once when the process that runs jobs starts."""
        for staging in self.root.glob(".staging-*") if self.root.is_dir() else []:
            shutil.rmtree(staging, ignore_errors=True)  # never became a job: its request got no answer
        queued = 0
        for row in reversed(self.store.catalog.list_jobs("ingest", limit=10_000, unfinished=True)):
            job = Job.from_row(row)
            self.runner.adopt(job)
            folder = self.folder(job.id)
            missing = [i for i, f in enumerate(job.files) if not f.final and not (folder / f"{i}.upload").is_file()]
            if not job.files or missing:
                error = "interrupted: the process stopped before the uploaded files were saved; upload them again"
                self.runner.update(job, status="failed", error=error)
                continue
            for f in job.files:
                if not f.final:
                    f.state = "queued"
            self.runner.update(job, status="queued")
            self.runner.submit(LANE, job, self.run)
            queued += 1
        if queued:
            log.warning("resuming %d ingest job(s) a stopped process left unfinished", queued)
        return queued


class IngestFailedError(DocumentParseError):
    """Files of an ingest job could not be stored (the job's other files were)."""


def failed_upload_error(job: Job) -> IngestFailedError:
    """The error a synchronous upload answers when files of its job failed: each file named with its reason."""
    failed = [f for f in job.files if f.state == "failed"]
    stored = [f for f in job.files if f.state in ("done", "duplicate")]
    if len(failed) == 1 and not stored:
        message = failed[0].error or job.error or "the file could not be ingested"
    else:
        message = job.error or "the job failed"
        if stored:
            message += f"; the other {len(stored)} file(s) were stored (GET /v1/jobs/{job.id} lists them)"
    error = IngestFailedError(message)
    error.detail = job.as_dict()  # the error response's detail: the job, with each file's state
    return error
