"""The worker's side of ingest jobs (a part of :class:`rag.jobs.IngestJobs`): one turn of a job at a time.

The worker takes a job's files ``BATCH`` at a time, one batch a turn: each
file is parsed (a file that cannot be parsed fails alone, with its reason),
then the batch is chunked, embedded and stored as one write
(:meth:`IngestPipeline.commit_batch`), and each file's state, document id and
chunk count are recorded. With an engine (Ray) the whole job is one turn.
Progress is reported per embedder batch, not per file: the job's chunk count
grows as each batch of files is chunked, its embedded chunks after each of the
embedder's batches (every report bumps the job's version, so its watchers see
it), and the time left is estimated from the recent embedding speed
(:meth:`Job.estimate`). A parse that reports its steps (OCR, a page at a time)
shows them as the job's ``reading`` while the file is parsed. A message's
attachments are stored after it, as documents linked to it; each file records
what became of them (stored, or skipped and why). An upload's password is held
in memory for its job (``IngestJobs.passwords``) and dropped when the job ends.

A job belongs to its collection by id: an upload to a new name creates the
collection when it is submitted (with the pipeline's embedder and the upload's
index_spec, as the first store did before), so every job knows the id it
writes to and who may read it. At each turn the job checks that the name still
names that collection: if it was deleted (by another process while the server
was down, or while the upload's body was read), the job's files fail with that
reason; it never stores into a collection created again under the name, nor
brings a deleted one back. The server does not delete a collection while a job
is queued or running on it (:meth:`IngestJobs.deleting`).

Fairness: the runner's ingest lane serves collections round-robin, one job of
a collection at a time (:mod:`rag.jobs.lanes`), and a turn is one batch of a
job's files, so a collection with many files, or a file that takes the
parser's whole time limit (each file has its own, in a sandboxed worker process
of its thread: :func:`ingest.parse.sandbox.parse_sandboxed`), holds one worker
while the others serve the other collections.

A replacement is one step on the document id: a second replacement of a
document while one is pending is refused (409), a replacement whose document
is gone before its file is stored fails without storing it, and the old
document is deleted only if it is still there once the new one is stored
(:meth:`Store.replace_document`), else the new one is removed and the file
fails: one document takes the place of the original, never two.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from core.errors import ConflictError, NotFoundError, RAGError
from rag.jobs.job import EmbedRate, Job
from rag.jobs.runner import JobRunner
from rag.pipeline.ingest import EmbedProgress, IngestPipeline, IngestResult, PreparedDocument, SavedFile
from rag.store import Collection, Store

BATCH = 16  # files parsed, then embedded and stored as one write: one turn of a job

# (collection, saved files, index spec) -> (file, result or error) per file, in order, each yielded once stored
Engine = Callable[[str, list[SavedFile], str | None], Iterable[tuple[object, IngestResult | Exception]]]


class IngestTurns:
    """A job's turns; the host class provides ``runner``, ``store``, ``pipeline``, ``engine`` and ``root``."""

    runner: JobRunner
    store: Store
    pipeline: Callable[[], IngestPipeline]
    engine: Engine | None
    root: Path  # the jobs' saved uploads, one folder each
    passwords: dict[int, str]  # job id -> its upload's password (memory only)

    def folder(self, job_id: int) -> Path:
        return self.root / str(job_id)

    # -- the worker -------------------------------------------------------
    def run(self, job: Job) -> bool:
        """One turn of ``job``: its next batch of files (on the engine, all of them); True while more remain."""
        todo = [i for i, f in enumerate(job.files) if not f.final]
        collection = self._collection(job) if todo else None
        gone = self._gone(job, collection) if todo else None
        if gone is not None:
            for i in todo:
                f = job.files[i]
                f.state, f.error = "failed", str(gone)
            self.runner.update(job)
        elif todo and self.engine is not None:
            self._run_engine(job, todo)
        elif todo:
            self._run_local(job, todo[:BATCH], collection)
            if any(not f.final for f in job.files):
                return True  # the next batch at the collection's next turn
        self._finish(job)
        return False

    def _finish(self, job: Job) -> None:
        self._replace(job)
        failed = [f for f in job.files if f.state == "failed"]
        error = None
        if failed:
            reasons = "; ".join(f"{f.filename}: {f.error}" for f in failed)
            error = f"{len(failed)} of {len(job.files)} files could not be ingested: {reasons}"
        # The saved uploads go before the job is final (a stop in between: every file is final, so the
        # next start finishes the job without them).
        shutil.rmtree(self.folder(job.id), ignore_errors=True)
        self.passwords.pop(job.id, None)
        self.runner.update(job, status="failed" if failed else "done", error=error)

    def _collection(self, job: Job) -> Collection | None:
        """The job's collection, if its name still names it (a job written before jobs had ids: the name's)."""
        found = self.store.catalog.find_collection(job.collection)
        if found is not None and job.collection_id is not None and found.id != job.collection_id:
            return None
        return found

    def _gone(self, job: Job, collection: Collection | None) -> RAGError | None:
        """Why the job's files can no longer be stored: its ``collection`` (as :meth:`_collection` found it) or
        the document it replaces is gone."""
        if collection is None and job.collection_id is not None:
            return NotFoundError(
                f"collection {job.collection!r} was deleted while this upload was queued; the file was not stored"
            )
        old = job.request.get("replace")
        if old is not None and (collection is None or not self.store.catalog.has_document(collection.id, old)):
            return ConflictError(
                f"document {old} was deleted while its replacement was queued; the file was not stored: upload it "
                "as a new document"
            )
        return None

    def _run_engine(self, job: Job, todo: list[int]) -> None:
        """Parse, embed and store on the engine; each file's state follows as its batch is committed."""
        folder = self.folder(job.id)
        files = [
            SavedFile(folder / f"{i}.upload", job.files[i].filename, job.files[i].media_type, checked=True)
            for i in todo
        ]
        self.runner.checkpoint()
        self._set(job, todo, "embedding")  # parsing and embedding overlap on the engine's workers
        results = self.engine(job.collection, files, job.request.get("index_spec"))
        rate = EmbedRate()
        rate.add(job.chunks_embedded)
        for i, (_, result) in zip(todo, results):
            if isinstance(result, Exception):
                self._fail(job, i, result)
                continue
            self._stored(job, i, result)
            chunks = job.chunks_embedded + result.n_chunks
            rate.add(chunks)
            changes = {
                "chunks_embedded": chunks,
                "chunks_total": (job.chunks_total or 0) + result.n_chunks,
                "bytes_chunked": job.bytes_chunked + job.files[i].size_bytes,
            }
            self.runner.update(job, eta_seconds=dataclasses.replace(job, **changes).estimate(rate), **changes)
            self.runner.checkpoint()  # a stop here: the files stored but not recorded are found by their bytes

    def _stored(self, job: Job, i: int, result: IngestResult) -> None:
        f = job.files[i]
        f.state = "duplicate" if result.duplicate else "done"
        f.document_id, f.n_chunks = result.document_id, result.n_chunks
        f.attachments = attachment_states(result)

    def _run_local(self, job: Job, batch: list[int], collection: Collection | None) -> None:
        """Parse the files ``batch``, then embed and store them as one write."""
        pipeline = self.pipeline()
        folder = self.folder(job.id)
        self.runner.checkpoint()
        self._set(job, batch, "parsing")
        prepared: list[tuple[int, PreparedDocument]] = []
        for i in batch:
            f = job.files[i]
            try:
                data = (folder / f"{i}.upload").read_bytes()
                media = f.media_type or pipeline.check_file(f.filename, data)  # the type its check chose at submit
                how = {"password": self.passwords.get(job.id), "on_progress": self._reading(job, f.filename)}
                prepared.append((i, pipeline.prepare(f.filename, data, media, **how)))
            except (RAGError, OSError) as exc:
                self._fail(job, i, exc)
        if job.reading is not None:  # the batch is read: its OCR pages are no longer news
            self.runner.update(job, persist=False, reading=None)
        if not prepared:
            return
        stored = [i for i, _ in prepared]

        def stage(state: str) -> None:
            self._set(job, stored, state)

        try:
            if collection is None:  # a job written before jobs recorded their collection's id
                collection = pipeline.open_collection(job.collection, job.request.get("index_spec"))
            progress = self._progress(job, sum(job.files[i].size_bytes for i in stored))
            results = pipeline.commit_batch(collection, [p for _, p in prepared], progress, stage)
        except RAGError as exc:
            for i in stored:
                self._fail(job, i, exc)
            return
        for i, result in zip(stored, results):
            self._stored(job, i, result)
        self.runner.update(job)

    def _progress(self, job: Job, batch_bytes: int) -> Callable[[EmbedProgress], None]:
        """What hears a write batch's embedding: the job's chunk counts and estimate, after each embedder batch
        (in memory: the catalog keeps states, not counts)."""
        rate, base, first = EmbedRate(), job.chunks_embedded, True

        def report(p: EmbedProgress) -> None:
            nonlocal base, first
            if p.embedded == 0:  # a write's chunks are counted: the batch's, then its attachments'
                base = job.chunks_embedded
            changes: dict = {"chunks_embedded": base + p.embedded}
            if p.embedded == 0:
                changes["chunks_total"] = (job.chunks_total or 0) + p.chunks
                changes["bytes_chunked"] = job.bytes_chunked + (batch_bytes if first else 0)
                first = False
            rate.add(base + p.embedded)
            eta = dataclasses.replace(job, **changes).estimate(rate)
            self.runner.update(job, persist=False, eta_seconds=eta, **changes)

        return report

    def _reading(self, job: Job, filename: str) -> Callable[[int, int, str], None]:
        """What hears a file's parse as it goes (OCR pages): the job's ``reading``, in memory, one change each."""

        def report(done: int, total: int, unit: str) -> None:
            reading = {"filename": filename, "done": done, "total": total, "unit": unit}
            self.runner.update(job, persist=False, reading=reading)

        return report

    def _set(self, job: Job, files: list[int], state: str) -> None:
        for i in files:
            job.files[i].state = state
        self.runner.update(job, status=state)

    def _fail(self, job: Job, i: int, exc: Exception) -> None:
        f = job.files[i]
        f.state, f.error = "failed", str(exc) if isinstance(exc, RAGError) else f"{type(exc).__name__}: {exc}"
        self.runner.update(job)

    def _replace(self, job: Job) -> None:
        """Delete the document a stored file replaces (not when the new bytes are that document's), if it is
        still there; if it is not, the file fails and its new document goes (:meth:`Store.replace_document`)."""
        old = job.request.get("replace")
        new = job.files[0] if job.files else None
        if old is None or new is None or new.state not in ("done", "duplicate") or new.document_id == old:
            return
        collection = self._collection(job)
        if collection is None:
            return
        # Recorded first: a job resumed after a stop that came once the old document was deleted must not read
        # its absence as a rival's replacement (and delete the new document too).
        resumed = job.result == {"replacing": old}
        self.runner.update(job, result={"replacing": old})
        stored = new.document_id if new.state == "done" and not resumed else None
        if self.store.replace_document(collection, old, stored) or resumed:
            job.result = {"replaced": old}
            return
        new.state, new.document_id, new.n_chunks = "failed", None, None
        new.error = (
            f"document {old} was deleted or replaced while this replacement ran; the file was not kept: upload "
            "it as a new document"
        )


def attachment_states(result: IngestResult) -> list[dict]:
    """What became of a message's attachments, attachments of attachments included, as a file's job records it."""
    states = []
    for a in result.attachments:
        state = "duplicate" if a.duplicate else "done"
        states.append(
            {
                "filename": a.filename,
                "state": state,
                "document_id": a.document_id,
                "n_chunks": a.n_chunks,
                "reason": None,
            }
        )
        states += attachment_states(a)
    for s in result.skipped:
        states.append(
            {"filename": s.filename, "state": "skipped", "document_id": None, "n_chunks": None, "reason": s.reason}
        )
    return states
