"""Ingest as background jobs: uploads are checked and saved, then parsed, embedded and indexed on a worker.

``submit`` checks every file (size, type, emptiness: a bad one is a 4xx and
nothing is queued), writes the bytes under ``<data_dir>/jobs/<id>/`` with an
fsync, records the job as queued and returns: from then on the upload is safe.
The worker takes the job's files ``batch`` at a time: each file is parsed
(a file that cannot be parsed fails alone, with its reason), then the batch is
chunked, embedded and stored as one write (:meth:`IngestPipeline.commit_batch`),
and each file's state, document id and chunk count are recorded.

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
from collections.abc import Callable, Iterable
from pathlib import Path

from indexes import parse_spec
from indexes.errors import DocumentParseError, InvalidInputError, NotFoundError, RAGError
from rag.jobs.job import FileState, Job
from rag.jobs.runner import JobRunner
from rag.pipeline.ingest import IngestPipeline, IngestResult, PreparedDocument, SavedFile
from rag.store import Store, check_collection_name
from rag.store.lifecycle import check_index_choice
from rag.store.manifest import fsync_paths

log = logging.getLogger(__name__)

LANE = "ingest"
BATCH = 16  # files parsed, then embedded and stored as one write


# (collection, saved files, index spec) -> (file, result or error) per file, in order, each yielded once stored
Engine = Callable[[str, list[SavedFile], str | None], Iterable[tuple[object, IngestResult | Exception]]]


class IngestJobs:
    def __init__(
        self, runner: JobRunner, store: Store, pipeline: Callable[[], IngestPipeline], engine: Engine | None = None
    ) -> None:
        """``pipeline`` returns the ingest pipeline (loading the embedder on first use); ``engine``, when given,
        parses, embeds and stores the files instead (the Ray engine: ``Platform.ray_ingest``)."""
        self.runner = runner
        self.store = store
        self.pipeline = pipeline
        self.engine = engine
        self.root = store.data_dir / "jobs"

    def folder(self, job_id: int) -> Path:
        return self.root / str(job_id)

    # -- the request ------------------------------------------------------
    def submit(
        self,
        collection: str,
        files: list[tuple[str, bytes, str | None]],
        index_spec: str | None = None,
        replace: int | None = None,
    ) -> Job:
        """Check ``files`` (filename, bytes, media type or None), save them and queue their job.

        Args:
            index_spec: the index of a collection this job creates.
            replace: a document of the collection that the (single) file replaces once it is stored.
        Raises:
            a 4xx-class RAGError for a bad file, name or spec; nothing is saved then.
        """
        check_collection_name(collection)
        if index_spec is not None:
            parse_spec(index_spec)
        found = self.store.catalog.find_collection(collection)
        if found is not None:
            check_index_choice(found, index_spec)
        if replace is not None:
            if len(files) != 1:
                raise InvalidInputError(f"a document is replaced by one file; this request has {len(files)}")
            self.store.catalog.get_document(self.store.catalog.get_collection(collection).id, replace)
        pipeline = self.pipeline()
        media = [pipeline.check(name, data, media_type) for name, data, media_type in files]
        staging = self.save(files)
        job = Job(
            id=0,
            kind="ingest",
            status="queued",
            created_at="",
            collection=collection,
            request={"index_spec": index_spec, "replace": replace},
            files=[FileState(name, len(data), m) for (name, data, _), m in zip(files, media)],
        )
        try:
            self.runner.create("ingest", found.id if found else None, job)
            staging.rename(self.folder(job.id))
            fsync_paths([self.root])
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self.runner.submit(LANE, job, self.run)
        return job

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

    # -- the worker -------------------------------------------------------
    def run(self, job: Job) -> None:
        todo = [i for i, f in enumerate(job.files) if not f.final]
        if self.engine is not None:
            self._run_engine(job, todo)
        else:
            self._run_local(job, todo)
        self._replace(job)
        failed = [f for f in job.files if f.state == "failed"]
        error = None
        if failed:
            reasons = "; ".join(f"{f.filename}: {f.error}" for f in failed)
            error = f"{len(failed)} of {len(job.files)} files could not be ingested: {reasons}"
        # The saved uploads go before the job is final (a stop in between: every file is final, so the
        # next start finishes the job without them).
        shutil.rmtree(self.folder(job.id), ignore_errors=True)
        self.runner.update(job, status="failed" if failed else "done", error=error)

    def _run_engine(self, job: Job, todo: list[int]) -> None:
        """Parse, embed and store on the engine; each file's state follows as its batch is committed."""
        folder = self.folder(job.id)
        files = [SavedFile(folder / f"{i}.upload", job.files[i].filename, job.files[i].media_type) for i in todo]
        self.runner.checkpoint()
        self._set(job, todo, "embedding")  # parsing and embedding overlap on the engine's workers
        results = self.engine(job.collection, files, job.request.get("index_spec"))
        for i, (_, result) in zip(todo, results):
            if isinstance(result, Exception):
                self._fail(job, i, result)
                continue
            self._stored(job, i, result)
            self.runner.update(job, chunks_embedded=job.chunks_embedded + result.n_chunks)
            self.runner.checkpoint()  # a stop here: the files stored but not recorded are found by their bytes

    def _stored(self, job: Job, i: int, result: IngestResult) -> None:
        f = job.files[i]
        f.state = "duplicate" if result.duplicate else "done"
        f.document_id, f.n_chunks = result.document_id, result.n_chunks

    def _run_local(self, job: Job, todo: list[int]) -> None:
        pipeline = self.pipeline()
        folder = self.folder(job.id)
        index_spec = job.request.get("index_spec")
        for start in range(0, len(todo), BATCH):
            self.runner.checkpoint()
            batch = todo[start : start + BATCH]
            self._set(job, batch, "parsing")
            prepared: list[tuple[int, PreparedDocument]] = []
            for i in batch:
                f = job.files[i]
                try:
                    data = (folder / f"{i}.upload").read_bytes()
                    prepared.append((i, pipeline.prepare(f.filename, data, f.media_type)))
                except (RAGError, OSError) as exc:
                    self._fail(job, i, exc)
            if not prepared:
                continue
            stored = [i for i, _ in prepared]

            def progress(n: int) -> None:
                self.runner.update(job, persist=False, chunks_embedded=job.chunks_embedded + n)

            def stage(state: str, files=stored) -> None:
                self._set(job, files, state)

            try:
                results = pipeline.commit_batch(job.collection, [p for _, p in prepared], progress, index_spec, stage)
            except RAGError as exc:
                for i in stored:
                    self._fail(job, i, exc)
                continue
            for i, result in zip(stored, results):
                self._stored(job, i, result)
            self.runner.update(job)

    def _set(self, job: Job, files: list[int], state: str) -> None:
        for i in files:
            job.files[i].state = state
        self.runner.update(job, status=state)

    def _fail(self, job: Job, i: int, exc: Exception) -> None:
        f = job.files[i]
        f.state, f.error = "failed", str(exc) if isinstance(exc, RAGError) else f"{type(exc).__name__}: {exc}"
        self.runner.update(job)

    def _replace(self, job: Job) -> None:
        """Delete the document a stored file replaces (not when the new bytes are that document's)."""
        old = job.request.get("replace")
        new = job.files[0] if job.files else None
        if old is None or new is None or new.state not in ("done", "duplicate") or new.document_id == old:
            return
        try:
            collection = self.store.catalog.get_collection(job.collection)
        except NotFoundError:
            return
        self.store.delete_documents(collection, [old])
        job.result = {"replaced": old}

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
