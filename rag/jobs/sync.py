"""Folders the server keeps in sync (RAG_SYNC_DIRS): a job of kind "sync" per pass, a watcher thread per folder.

Each pass of a folder (:class:`rag.sync.FolderSync`) runs as a job on the ingest lane, keyed by its
collection like an upload, so a pass and an upload never write one collection at once and a collection
is not deleted while a pass is queued or running. The job lists the files the pass ingests with their
states, counts chunks as the uploads' jobs do, and keeps the pass's report as its result
(:meth:`rag.sync.SyncReport.as_dict`); it fails, naming each file and its reason, when a file could not
be synced (the others are). A job the server's stop interrupted is marked failed when it starts again,
and its first pass does the rest.

A :class:`FolderWatcher` runs a first pass as soon as it watches the folder (so a change made meanwhile
is not missed), then one pass per batch of changes (``watchfiles``, debounced). It waits for each pass to
finish before it takes the next batch, so changes made during a pass make one more pass, not one each.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from core.errors import ConfigError, ConflictError, RAGError
from rag.jobs.job import EmbedRate, FileState, Job
from rag.jobs.runner import JobRunner
from rag.pipeline.ingest import EmbedProgress, IngestPipeline, IngestResult
from rag.settings import SyncDir
from rag.sync import DEBOUNCE_MS, FolderSync, PassHooks, SyncPlan, watch_folder

log = logging.getLogger(__name__)

KIND = "sync"
LANE = "ingest"  # with the uploads: one job of a collection at a time


class SyncJobs:
    """Passes of folder syncs as jobs on the runner."""

    def __init__(self, runner: JobRunner) -> None:
        self.runner = runner

    def submit(self, sync: FolderSync) -> Job:
        """Queue one pass of ``sync``; a collection that cannot be opened gives a failed job that says why."""
        job = Job(0, KIND, "queued", "", collection=sync.collection, request={"folder": str(sync.folder)})
        try:
            collection_id = sync.open_collection().id
        except RAGError as exc:
            self.runner.create(KIND, None, job)
            self.runner.update(job, status="failed", error=str(exc))
            return job
        self.runner.create(KIND, collection_id, job)
        self.runner.submit(LANE, job, lambda j: self._run(j, sync))
        return job

    def _run(self, job: Job, sync: FolderSync) -> None:
        self.runner.update(job, status="running")
        hooks = PassHooks(
            planned=lambda plan, sizes: self._planned(job, plan, sizes),
            stored=lambda key, result: self._stored(job, key, result),
            progress=self._progress(job),
            checkpoint=self.runner.checkpoint,
        )
        report = sync.run(hooks)
        status = "failed" if report.failed else "done"
        self.runner.update(job, status=status, result=report.as_dict(), error=report.failure_message())

    def _planned(self, job: Job, plan: SyncPlan, sizes: dict[str, int]) -> None:
        self.runner.update(job, files=[FileState(key, sizes[key]) for key in plan.ingest])

    def _stored(self, job: Job, key: str, result: IngestResult | Exception) -> None:
        f = next(f for f in job.files if f.filename == key)
        if isinstance(result, Exception):
            f.state, f.error = "failed", str(result)
        else:
            f.state = "duplicate" if result.duplicate else "done"
            f.document_id, f.n_chunks = result.document_id, result.n_chunks
        self.runner.update(job, persist=False)  # the pass's end writes every file's state (a folder may hold many)

    def _progress(self, job: Job) -> Callable[[EmbedProgress], None]:
        """The job's chunk counts and estimate after each embedder batch (in memory, as an upload's)."""
        rate, base = EmbedRate(), 0

        def report(p: EmbedProgress) -> None:
            nonlocal base
            changes: dict = {}
            if p.embedded == 0:  # a write batch's chunks are counted
                base = job.chunks_embedded
                changes["chunks_total"] = (job.chunks_total or 0) + p.chunks
            changes["chunks_embedded"] = base + p.embedded
            rate.add(base + p.embedded)
            eta = dataclasses.replace(job, **changes).estimate(rate)
            self.runner.update(job, persist=False, eta_seconds=eta, **changes)

        return report


class FolderWatcher:
    """A thread that syncs one folder when it starts watching it and after each batch of changes."""

    def __init__(self, jobs: SyncJobs, sync: Callable[[], FolderSync], debounce_ms: int = DEBOUNCE_MS) -> None:
        """``sync`` builds the folder's sync in the thread (building the ingest pipeline loads a tokenizer)."""
        self.jobs = jobs
        self.sync = sync
        self.debounce_ms = debounce_ms
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="sync-watcher")

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop watching; a pass under way finishes on the runner (or stops with it)."""
        self._stop.set()
        self._thread.join(timeout)

    def _watch(self) -> None:
        try:
            sync = self.sync()
            for _ in watch_folder(sync.folder, self._stop, self.debounce_ms):
                self._pass(sync)
        except ConflictError:  # the runner is closing
            return
        except Exception:  # the server keeps serving; the log says why this folder is no longer synced
            log.exception("the folder sync stopped")

    def _pass(self, sync: FolderSync) -> None:
        """Run one pass as a job and wait for it (or for the stop)."""
        job = self.jobs.submit(sync)
        version = -1
        while not self._stop.is_set():
            job = self.jobs.runner.wait(job.id, version, timeout=0.5)
            if job.final:
                return
            version = job.version


def check_sync_dirs(folders: tuple[SyncDir, ...]) -> None:
    """Every folder of RAG_SYNC_DIRS exists (a ConfigError that names the one that does not)."""
    for entry in folders:
        if not entry.path.is_dir():
            raise ConfigError(
                f"RAG_SYNC_DIRS syncs {entry.path} into the collection {entry.collection!r}, and it is not a "
                "folder: create it or correct the setting"
            )


def start_sync_dirs(
    folders: tuple[SyncDir, ...], runner: JobRunner, pipeline: Callable[[], IngestPipeline]
) -> Callable[[], None]:
    """Watch and sync each folder of RAG_SYNC_DIRS (:func:`check_sync_dirs` first); returns what stops them."""
    check_sync_dirs(folders)
    jobs = SyncJobs(runner)
    watchers = [FolderWatcher(jobs, _builder(pipeline, e.collection, e.path)) for e in folders]
    for watcher in watchers:
        watcher.start()

    def stop() -> None:
        for watcher in watchers:
            watcher.stop()

    return stop


def _builder(pipeline: Callable[[], IngestPipeline], collection: str, folder: Path) -> Callable[[], FolderSync]:
    return lambda: FolderSync(pipeline(), collection, folder, create=True)
