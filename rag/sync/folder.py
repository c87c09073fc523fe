"""A folder kept in sync with a collection: scan it, compare with what the sync stored, apply the difference.

Each pass (:meth:`FolderSync.run`) reads the folder (:func:`rag.sync.scan.scan_folder`), hashes the files
whose size or modification time changed since they were last hashed (a touch costs a hash, no parse),
plans (:func:`rag.sync.plan.plan_pass`), deletes the documents of gone and changed files, then ingests
the new and changed files through the one ingest write path (:meth:`IngestPipeline.ingest_files`: the
same checks, sandboxed parse, chunking and embedding as an upload), each under its key (its path relative
to the folder, with forward slashes) as the document's filename. A file that cannot be ingested fails
alone, with the pipeline's reason, and the pass goes on; its bytes are not tried again by this object
until they change (a new ``rag sync`` or server start tries them again). What the pass stored is saved
in the sync's state (:mod:`rag.sync.state`) after each batch and when the pass ends or is stopped.

A changed file is deleted before its new version is stored, so it is missing from searches for the time
its new version takes to embed; a deleted file's chunks are gone from every search once the pass
deleted its document.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from core.errors import InvalidInputError, NotFoundError
from ingest.check import size_limit_message
from rag.pipeline.ingest import IngestPipeline, IngestResult, Progress
from rag.store import Collection, check_collection_name
from rag.sync.errors import SyncFolderError
from rag.sync.plan import Held, SyncPlan, plan_pass
from rag.sync.report import SyncDuplicate, SyncFailure, SyncReport
from rag.sync.scan import LocalFile, scan_folder
from rag.sync.state import Synced, load_state, save_state, state_path

HASH_BLOCK = 1 << 20  # bytes read at a time when a file is hashed


@dataclass(frozen=True)
class PassHooks:
    """What a caller hears during a pass (a server's sync job shows them as its progress).

    Attributes:
        planned: the plan, with the size in bytes of each file to ingest, before anything is changed.
        stored: each ingested file's key with its result or the error that kept it out, as it is stored.
        progress: the embedding's progress, as ``rag ingest`` and upload jobs hear it.
        checkpoint: called between files; it may raise to stop the pass (what was stored is kept).
    """

    planned: Callable[[SyncPlan, dict[str, int]], None] | None = None
    stored: Callable[[str, IngestResult | Exception], None] | None = None
    progress: Progress | None = None
    checkpoint: Callable[[], None] | None = None


@dataclass
class _Pass:
    """A pass under way: its collection, its state file and what it found and did so far."""

    collection: Collection
    state_file: Path
    files: dict[str, LocalFile]
    state: dict[str, Synced]
    failed: list[SyncFailure]
    duplicates: list[SyncDuplicate]


class FolderSync:
    """Keeps ``folder`` and the collection ``collection`` equal, one pass at a time.

    Args:
        create: create the collection (for the pipeline's embedder) if it does not exist; else a
            missing collection is a NotFoundError.
        batch: files stored per write.
        allow_empty: let a pass empty the collection when the folder has no files left; without it such
            a pass is refused (an unmounted drive looks like an empty folder), deleting nothing.
    """

    def __init__(
        self,
        pipeline: IngestPipeline,
        collection: str,
        folder: Path,
        create: bool = True,
        batch: int = 16,
        allow_empty: bool = False,
    ) -> None:
        self.allow_empty = allow_empty
        self.pipeline = pipeline
        self.collection = check_collection_name(collection)
        self.folder = Path(folder).expanduser().absolute()
        self.create = create
        self.batch = batch
        self._hashes: dict[str, tuple[int, int, str]] = {}  # key -> (size, mtime_ns, sha256) when last hashed
        self._failed: dict[str, tuple[str, str]] = {}  # key -> (sha256, reason) of bytes the file's fault failed

    def open_collection(self) -> Collection:
        """The collection synced into (created if missing and ``create``)."""
        store = self.pipeline.store
        found = store.catalog.find_collection(self.collection)
        if found is not None:
            return found
        if not self.create:
            raise NotFoundError(
                f"collection {self.collection!r} does not exist: create it with --create (rag sync DIR "
                f"--collection {self.collection} --create)"
            )
        return self.pipeline.open_collection(self.collection)

    def run(self, hooks: PassHooks | None = None) -> SyncReport:
        """One pass: the collection made equal to the folder (see the module docstring)."""
        hooks = hooks or PassHooks()
        t0 = time.perf_counter()
        if not self.folder.is_dir():
            raise SyncFolderError(f"{self.folder} is not a folder: give the folder to sync")
        p, plan, shas = self._survey()
        if not p.files and p.state and not self.allow_empty:
            raise SyncFolderError(
                f"{self.folder} is empty, but {len(p.state)} documents were synced from it: is the drive it is "
                f"on mounted? Nothing was deleted; to empty collection {self.collection!r} too, sync with "
                "--allow-empty"
            )
        if hooks.planned is not None:
            hooks.planned(plan, {k: p.files[k].size for k in plan.ingest})
        added, replaced = [], []
        try:
            self._delete(p, plan)
            self._adopt(p, plan, shas)
            for key, result in self._ingest(p, plan, shas, hooks):
                if isinstance(result, IngestResult) and not result.duplicate:
                    (replaced if key in plan.replace else added).append(key)
        finally:
            save_state(p.state_file, self.folder, p.state)
        return SyncReport(
            self.collection,
            str(self.folder),
            tuple(added),
            tuple(replaced),
            plan.delete,
            len(plan.unchanged) + len(plan.adopt),
            tuple(sorted(p.duplicates, key=lambda d: d.file)),
            tuple(sorted(p.failed, key=lambda f: f.file)),
            time.perf_counter() - t0,
        )

    # -- the steps of a pass --------------------------------------------------
    def _survey(self) -> tuple[_Pass, SyncPlan, dict[str, str]]:
        """Read the collection, the sync's state and the folder; hash what changed; plan."""
        collection = self.open_collection()
        state_file = state_path(self.pipeline.store.data_dir, collection.id, self.folder)
        docs = self.pipeline.store.catalog.list_documents(collection.id)
        ids = {d.id for d in docs}
        synced = {k: s for k, s in load_state(state_file).items() if s.document_id in ids}  # deleted another way
        owned = {s.document_id for s in synced.values()}
        held = {d.sha256: Held(d.id, d.filename) for d in docs if d.id not in owned}
        p = _Pass(collection, state_file, scan_folder(self.folder), dict(synced), [], [])
        shas = self._hash_all(p, synced)
        plan = plan_pass(shas, synced, held)
        p.duplicates.extend(SyncDuplicate(k, of) for k, of in plan.duplicates.items())
        return p, plan, shas

    def _hash_all(self, p: _Pass, synced: dict[str, Synced]) -> dict[str, str]:
        """sha256 of each file that can be read and is not too large; the others fail here."""
        for key, s in synced.items():
            self._hashes.setdefault(key, (s.size, s.mtime_ns, s.sha256))
        shas = {}
        limit = self.pipeline.max_upload_bytes
        for key, f in p.files.items():
            if f.size > limit:
                p.failed.append(SyncFailure(key, size_limit_message(key, f.size, limit)))
                continue
            size, mtime_ns, sha = self._hashes.get(key, (-1, -1, ""))
            if (size, mtime_ns) != (f.size, f.mtime_ns):
                try:
                    sha = _sha256_of(f.path)
                except OSError as exc:
                    p.failed.append(SyncFailure(key, f"the file could not be read: {exc.strerror or exc}"))
                    continue
                self._hashes[key] = (f.size, f.mtime_ns, sha)
            shas[key] = sha
        for gone in set(self._hashes) - set(p.files):  # a long watch forgets the files that went
            del self._hashes[gone]
            self._failed.pop(gone, None)
        return shas

    def _delete(self, p: _Pass, plan: SyncPlan) -> None:
        """Delete the documents of gone and changed files; the unchanged ones' times are brought up to date."""
        if plan.doomed:
            self.pipeline.store.delete_documents(p.collection, list(plan.doomed))
        for key in plan.delete + plan.replace + tuple(plan.duplicates) + tuple(plan.adopt):
            p.state.pop(key, None)
        for key in plan.unchanged:
            f = p.files[key]
            p.state[key] = dataclasses.replace(p.state[key], size=f.size, mtime_ns=f.mtime_ns)
        save_state(p.state_file, self.folder, p.state)

    def _adopt(self, p: _Pass, plan: SyncPlan, shas: dict[str, str]) -> None:
        for key, document_id in plan.adopt.items():
            f = p.files[key]
            p.state[key] = Synced(document_id, shas[key], f.size, f.mtime_ns)

    def _ingest(
        self, p: _Pass, plan: SyncPlan, shas: dict[str, str], hooks: PassHooks
    ) -> Iterator[tuple[str, IngestResult | Exception]]:
        """Ingest the plan's new and changed files; yields (key, result or error) as each is stored."""
        todo = []
        for key in plan.ingest:
            known = self._failed.get(key)
            if known is not None and known[0] == shas[key]:
                p.failed.append(SyncFailure(key, known[1]))  # the same bytes failed before: not parsed again
            else:
                todo.append(key)
        read: dict[str, tuple[str, LocalFile]] = {}  # key -> (sha256, stat) of the bytes read for it

        def reader(key: str) -> Callable[[], bytes]:
            def read_bytes() -> bytes:
                st = p.files[key].path.stat()
                data = p.files[key].path.read_bytes()
                read[key] = (hashlib.sha256(data).hexdigest(), LocalFile(p.files[key].path, len(data), st.st_mtime_ns))
                return data

            return read_bytes

        files = [(key, reader(key)) for key in todo]
        results = self.pipeline.ingest_files(p.collection.name, files, self.batch, hooks.progress)
        for n, (key, result) in enumerate(results, 1):
            self._record(p, key, result, read.get(key))
            if hooks.stored is not None:
                hooks.stored(key, result)
            if n % self.batch == 0:
                save_state(p.state_file, self.folder, p.state)
            if hooks.checkpoint is not None:
                hooks.checkpoint()
            yield key, result

    def _record(self, p: _Pass, key: str, result: IngestResult | Exception, read: tuple[str, LocalFile] | None) -> None:
        """Keep what ingesting one file did: its document in the state, or its failure."""
        if isinstance(result, Exception):
            p.failed.append(SyncFailure(key, str(result)))
            if isinstance(result, InvalidInputError) and read is not None:  # the file's fault: wait for a change
                self._failed[key] = (read[0], str(result))
        elif result.duplicate:  # stored meanwhile by another upload
            p.duplicates.append(SyncDuplicate(key, f"the same bytes as document {result.document_id}"))
        elif read is not None:
            self._failed.pop(key, None)
            p.state[key] = Synced(result.document_id, read[0], read[1].size, read[1].mtime_ns)


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()
