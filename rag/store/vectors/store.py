"""VectorStore: the runs, BM25 index and manifest of one collection, under one directory.

Publishing is copy-on-write: an append writes a new run (segment + index) and,
for the collection's BM25 index, a new directory that hard-links the segments
it kept; then it switches ``manifest.json`` by atomic rename. A reader opens
whatever the manifest names, so it sees the state before or after a write,
never half of one; an append that fails or crashes halfway leaves the previous
generation as it was. Files no longer named by the manifest are removed after
the switch (open memory maps of them stay valid on POSIX).

Runs are merged (:mod:`rag.store.vectors.runs`) after an append, in a
background thread by default, so an append's cost stays that of its own batch;
a merge publishes only if the runs it merged are still published as they were.

The BM25 index (``lexical-{gen}/``, with the ``analyzer`` that made its terms)
is published in the same switch: an append adds the chunks' terms to it, a
removal tombstones them (compacting past :data:`COMPACT_FRACTION`), so vectors
and terms are always of one generation. A collection published before lexical
indexes existed has none until :meth:`VectorStore.replace_lexical` publishes one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import indexes
from indexes.lexical import BM25Index
from rag.store.manifest import Manifest, manifest_stamp, read_manifest
from rag.store.vectors.merger import RunMerger
from rag.store.vectors.runs import run_ids, run_vectors, search_runs
from rag.store.vectors.writes import VectorWrites


@dataclass(frozen=True)
class _Snapshot:
    """What searches read: a published manifest with its runs' indexes and BM25 index open."""

    manifest: Manifest
    opened: dict[str, indexes.Index]  # run index directory -> loaded index
    lexical: BM25Index | None


class VectorStore(VectorWrites):
    """Runs, BM25 index and manifest of one collection, under ``root``.

    Args:
        root: the collection's vector directory.
        dim, metric, index_spec: fixed when the collection is created.
        background_merges: merge runs in a background thread (True) or within the append
            that calls for it (False: slower appends, a deterministic layout).
    """

    def __init__(self, root: Path, dim: int, metric: str, index_spec: str, background_merges: bool = True) -> None:
        self.root = root
        self.dim = dim
        self.metric = metric
        self.index_spec = indexes.parse_spec(index_spec).spec()
        self._write_lock = threading.Lock()
        self._merger = RunMerger(self, background_merges)
        self._snap = _Snapshot(Manifest(dim, metric, self.index_spec), {}, None)  # generation 0: nothing
        self._stamp: tuple | None = None  # of the manifest file last read (None: there was none)
        root.mkdir(parents=True, exist_ok=True)
        self.refresh()

    # -- reading ----------------------------------------------------------
    def read_manifest(self) -> Manifest:
        return read_manifest(self.root, self.dim, self.metric, self.index_spec)

    def refresh(self) -> None:
        """Reopen what changed if another writer published a newer generation.

        Every search calls this: the manifest is read again only when its file changed
        (a publish renames a new file into place, so its inode changes), one stat otherwise.
        """
        stamp = manifest_stamp(self.root)
        if stamp == self._stamp:
            return
        manifest = self.read_manifest()
        if manifest.generation != self._snap.manifest.generation:  # a published one is 1 or more
            self._open(manifest)
        self._stamp = stamp  # taken before the read: a publish in between is seen by the next call

    def _open(self, manifest: Manifest) -> None:
        """Make ``manifest`` the one searches read; runs and a BM25 index already open are kept, not reloaded."""
        old = self._snap
        opened = {}
        for run in manifest.runs:
            index = old.opened.get(run.index)
            opened[run.index] = index if index is not None else self._load(run.index)
        lexical = old.lexical
        if manifest.lexical != old.manifest.lexical:
            lexical = BM25Index.load(self.root / manifest.lexical, mmap=True) if manifest.lexical else None
        self._snap = _Snapshot(manifest, opened, lexical)  # one assignment: readers see all of it or none

    def _load(self, name: str) -> indexes.Index:
        return indexes.load(str(self.root / name), mmap=True)

    @property
    def manifest(self) -> Manifest:
        """The published manifest this store reads."""
        self.refresh()
        return self._snap.manifest

    @property
    def generation(self) -> int:
        return self._snap.manifest.generation

    def __len__(self) -> int:
        return self._snap.manifest.count

    def search(self, q: np.ndarray, k: int, allow=None, **params) -> indexes.SearchResult:
        """Search every run of the published generation; an empty collection gives all -1 results."""
        self.refresh()
        snap = self._snap  # writers replace it, never change it
        if not snap.manifest.runs:
            return indexes.base.empty_result(np.atleast_2d(q).shape[0], k)
        searchers = [(snap.opened[r.index], r.spec == self.index_spec) for r in snap.manifest.runs]
        return search_runs(searchers, q, k, allow, params)

    @property
    def lexical(self) -> BM25Index | None:
        """The published BM25 index (None: a collection from before lexical indexes, or never written)."""
        self.refresh()
        return self._snap.lexical

    @property
    def has_lexical(self) -> bool:
        return self.lexical is not None

    @property
    def analyzer(self) -> str | None:
        """Name of the analyzer whose terms the published BM25 index holds (None without one)."""
        self.refresh()
        manifest = self._snap.manifest
        return manifest.analyzer if manifest.lexical else None

    def search_text(self, queries: list[list[str]], k: int, allow=None) -> indexes.SearchResult:
        """BM25 search of the published lexical index with analysed queries (one term list each)."""
        self.refresh()
        lexical = self._snap.lexical  # a snapshot, as in search
        if lexical is None:
            return indexes.base.empty_result(len(queries), k)
        return lexical.search(queries, k, allow=allow)

    def segment_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """All raw vectors and their ids, float32 (n, dim) and int64 (n,)."""
        manifest = self.read_manifest()
        if not manifest.runs:
            return np.empty((0, self.dim), np.float32), np.empty(0, np.int64)
        return run_vectors(self.root, manifest.runs)

    def stored_count(self) -> int:
        """How many vectors the published segments hold (from the manifest; no array is read)."""
        return self.read_manifest().stored

    def stored_ids(self) -> np.ndarray:
        """int64 (n,) ids of every vector in the published segments."""
        manifest = self.read_manifest()
        return run_ids(self.root, manifest.runs) if manifest.runs else np.empty(0, np.int64)

    # -- merging ----------------------------------------------------------
    def merge(self) -> int:
        """Merge runs until the merge policy is satisfied, in this thread; return how many merges published."""
        return self._merger.merge()

    def wait_for_merges(self) -> None:
        """Block until a background merge in flight (if any) has finished."""
        self._merger.wait()

    def close(self) -> None:
        """Let a merge in flight finish (before the collection's files go)."""
        self.wait_for_merges()
