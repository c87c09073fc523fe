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

import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import indexes
from indexes.errors import DimensionMismatchError
from indexes.lexical import BM25Index
from rag.store.manifest import MANIFEST, Manifest, Run, manifest_stamp, read_manifest, write_manifest
from rag.store.vectors.lexical import lexical_to_extend, lexical_without
from rag.store.vectors.merger import RunMerger
from rag.store.vectors.runs import (
    new_index,
    run_ids,
    run_vectors,
    run_without,
    search_runs,
    train_on,
    write_segment,
)

_SAME = object()  # _publish: keep what the manifest names


@dataclass(frozen=True)
class _Snapshot:
    """What searches read: a published manifest with its runs' indexes and BM25 index open."""

    manifest: Manifest
    opened: dict[str, indexes.Index]  # run index directory -> loaded index
    lexical: BM25Index | None


class VectorStore:
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

    # -- writing ----------------------------------------------------------
    def append(
        self, vectors: np.ndarray, ids: np.ndarray, terms: list[list[str]] | None = None, analyzer: str | None = None
    ) -> None:
        """Add float32 (n, dim) vectors under int64 (n,) ids, with their index terms, and publish them.

        The batch becomes a run of its own; its cost does not grow with the collection.

        Args:
            vectors: float32 (n, dim).
            ids: int64 (n,) chunk ids.
            terms: one term list per vector for the BM25 index; None adds vectors only. A collection
                without a lexical index gets one on its first append, if that append has terms.
            analyzer: the name of the analyzer that made ``terms``; it must be the index's.
        """
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise DimensionMismatchError(f"expected vectors of dimension {self.dim}, got shape {vectors.shape}")
        if terms is not None and len(terms) != ids.shape[0]:
            raise ValueError(f"{ids.shape[0]} ids but {len(terms)} term lists")
        if ids.shape[0] == 0:
            return
        with self._write_lock:
            manifest = self.read_manifest()
            gen = manifest.generation + 1
            name = f"{gen:06d}"
            seg = write_segment(self.root, f"seg-{name}", vectors, ids)
            # A learned index is trained on this batch only if the batch alone is large enough;
            # otherwise a Flat run serves it and a merge trains on the whole collection.
            index = new_index(self.index_spec, self.dim, self.metric, self._template(manifest), vectors.shape[0])
            if not index.is_trained:  # the first batch large enough to train a learned index
                train_on(index, vectors)
            index.add(vectors, ids)
            index.save(str(self.root / f"index-{name}"))
            run = Run((seg,), f"index-{name}", index.config.spec(), len(index))
            lexical = _SAME
            if terms is not None:
                lexical = lexical_to_extend(self.root, manifest, analyzer)
                if lexical is not None:
                    lexical.add(terms, ids)
                else:
                    lexical = _SAME  # published before lexical indexes: replace_lexical builds one
            self._publish(manifest, gen, runs=(*manifest.runs, run), lexical=lexical)
        self._merger.schedule()

    def _template(self, manifest: Manifest) -> indexes.Index | None:
        """A published index of the collection's spec (trained, for learned specs) that new runs copy."""
        for run in manifest.runs:
            if run.spec == self.index_spec:
                index = self._snap.opened.get(run.index)
                return index if index is not None else self._load(run.index)
        return None

    def replace_lexical(self, lexical: BM25Index) -> None:
        """Publish ``lexical`` as the collection's BM25 index (a rebuild), keeping the vectors."""
        with self._write_lock:
            manifest = self.read_manifest()
            self._publish(manifest, manifest.generation + 1, lexical=lexical)

    def remove(self, ids: np.ndarray) -> int:
        """Remove the vectors stored under ``ids`` (int64) from segments and indexes; return how many were found.

        Used to undo vectors whose catalog rows never committed (a failed or
        interrupted upload). Runs that hold none of ``ids`` are kept as they are;
        the others get their segments rewritten without them and the ids deleted
        from their index (a run left empty goes). The BM25 index tombstones the
        ids (also ids that have no vector) and is compacted once more than
        :data:`COMPACT_FRACTION` of its rows are tombstones.
        """
        doomed = np.unique(np.asarray(ids, dtype=np.int64))
        if doomed.size == 0:
            return 0
        with self._write_lock:
            manifest = self.read_manifest()
            gen = manifest.generation + 1
            runs, removed = [], 0
            for i, run in enumerate(manifest.runs):
                run, n = run_without(self.root, run, doomed, f"{gen:06d}-{i}", self._load)
                removed += n
                if run is not None:
                    runs.append(run)
            lexical = lexical_without(self.root, manifest, doomed)
            lexical = _SAME if lexical is None else lexical
            if removed == 0 and lexical is _SAME:
                return 0
            self._publish(manifest, gen, runs=tuple(runs), lexical=lexical)
            return removed

    def _publish(self, manifest: Manifest, gen: int, *, runs=_SAME, lexical=_SAME) -> None:
        """Save what changed as generation ``gen`` and switch the manifest to it (caller holds the write lock).

        Args:
            runs: the new run list (their files written already); lexical: the BM25 index
                to save (None: none). Each left at _SAME keeps what ``manifest`` names.
        """
        new = manifest.replace(generation=gen)
        if runs is not _SAME:
            new = new.replace(runs=tuple(runs))
        if lexical is not _SAME:
            name = f"lexical-{gen:06d}" if lexical is not None else None
            new = new.replace(lexical=name, analyzer=lexical.analyzer if lexical is not None else None)
            if lexical is not None:
                lexical.save(self.root / name)
        write_manifest(self.root, new, manifest)
        self._collect_garbage(new)
        self._open(new)

    # -- merging ----------------------------------------------------------
    def merge(self) -> int:
        """Merge runs until the merge policy is satisfied, in this thread; return how many merges published."""
        return self._merger.merge()

    def wait_for_merges(self) -> None:
        """Block until a background merge in flight (if any) has finished."""
        self._merger.wait()

    def _collect_garbage(self, manifest: Manifest) -> None:
        keep = {MANIFEST, *manifest.names(), *self._merger.pending}
        for entry in self.root.iterdir():
            if entry.name in keep or entry.name.startswith("."):
                continue
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
