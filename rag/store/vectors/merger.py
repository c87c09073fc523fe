"""Merging a collection's runs after appends: in a background thread, or within the append.

The long part of a merge (reading the runs, growing the largest index, saving
the merged run) runs outside the store's write lock, so appends and searches go
on meanwhile; the result is published only if the runs it replaces are still
published unchanged (a removal may have rewritten one; the next merge starts
from the new state). Files a merge is writing are reported by :attr:`RunMerger.pending`,
so the store's garbage collection leaves them alone.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from rag.store.vectors.runs import merge_runs, plan_merge

if TYPE_CHECKING:
    from rag.store.vectors.store import VectorStore

log = logging.getLogger(__name__)


class RunMerger:
    """The merges of one :class:`VectorStore` (it publishes them through the store, under its write lock)."""

    def __init__(self, store: VectorStore, background: bool) -> None:
        self.store = store
        self.background = background
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pending: set[str] = set()
        self._names = 0

    @property
    def pending(self) -> set[str]:
        """Names a merge in flight is writing: not garbage."""
        return set(self._pending)

    def schedule(self) -> None:
        """After an append: merge now (not background), or start the merger thread unless it runs."""
        if plan_merge(self.store.read_manifest()) is None:
            return
        if not self.background:
            self.merge()
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return  # the running merger re-plans after each merge
            self._thread = threading.Thread(target=self._run, name="rag-merge-runs", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            self.merge()
        except Exception:  # a failed merge leaves the runs as they were: appends and searches go on
            log.exception("merging the runs of %s failed; they stay unmerged until the next append", self.store.root)

    def merge(self) -> int:
        """Merge runs until the merge policy is satisfied; return how many merges published."""
        store, done = self.store, 0
        while True:
            manifest = store.read_manifest()
            plan = plan_merge(manifest)
            if plan is None:
                return done
            chosen = [manifest.runs[i] for i in plan]
            with store._write_lock:
                self._names += 1
                name = f"{manifest.generation:06d}-m{self._names}"
                files = {f"seg-{name}.npy", f"seg-{name}.ids.npy", f"index-{name}"}
                self._pending.update(files)
            try:
                merged = merge_runs(store.root, manifest, chosen, name, store._load, store._template(manifest))
                with store._write_lock:
                    current = store.read_manifest()
                    if not all(r in current.runs for r in chosen):
                        continue  # superseded while merging; its files are garbage now
                    kept = [r for r in current.runs if r not in chosen]
                    at = min(current.runs.index(r) for r in chosen)  # oldest first: the merge takes the first place
                    store._publish(current, current.generation + 1, runs=(*kept[:at], merged, *kept[at:]))
                    done += 1
            finally:
                with store._write_lock:
                    self._pending.difference_update(files)

    def wait(self) -> None:
        """Block until a background merge in flight (if any) has finished."""
        thread = self._thread
        if thread is not None:
            thread.join()
