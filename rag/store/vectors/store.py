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

import logging
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import indexes
from indexes.errors import ConfigError, DimensionMismatchError
from indexes.lexical import BM25Index
from rag.store.manifest import MANIFEST, Manifest, Run, read_manifest, write_manifest
from rag.store.vectors.runs import (
    merge_runs,
    new_index,
    plan_merge,
    run_vectors,
    search_runs,
    train_on,
    write_segment,
)

log = logging.getLogger(__name__)

# A removal that leaves more than this fraction of the BM25 index tombstoned compacts it, so
# the N, avgdl and df of its scores (which count tombstoned rows until then) stay close.
COMPACT_FRACTION = 0.2
_SAME = object()  # _publish: keep what the manifest names


def _file_stamp(path: Path) -> tuple | None:
    """Identity of a file's current version (inode, size, mtime), or None when there is none."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns)


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
        self.background_merges = background_merges
        self._write_lock = threading.Lock()
        self._merge_lock = threading.Lock()
        self._merger: threading.Thread | None = None
        self._pending: set[str] = set()  # names a merge in flight is writing: not garbage
        self._snap = _Snapshot(Manifest(dim, metric, self.index_spec), {}, None)
        self._names = 0
        self._opened = False
        self._stamp: tuple | None = None
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
        stamp = _file_stamp(self.root / MANIFEST)
        if self._opened and stamp == self._stamp:
            return
        manifest = self.read_manifest()
        if manifest.generation != self._snap.manifest.generation or not self._opened:
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
        if manifest.lexical != old.manifest.lexical or not self._opened:
            lexical = BM25Index.load(self.root / manifest.lexical, mmap=True) if manifest.lexical else None
        self._snap = _Snapshot(manifest, opened, lexical)  # one assignment: readers see all of it or none
        self._opened = True

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
        ids = [np.load(self.root / s.ids, mmap_mode="r") for r in manifest.runs for s in r.segments]
        return np.concatenate(ids) if ids else np.empty(0, np.int64)

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
                lexical = self._lexical_to_extend(manifest, analyzer)
                if lexical is not _SAME:
                    lexical.add(terms, ids)
            self._publish(manifest, gen, runs=(*manifest.runs, run), lexical=lexical)
        self._schedule_merges()

    def _template(self, manifest: Manifest) -> indexes.Index | None:
        """A published index of the collection's spec (trained, for learned specs) that new runs copy."""
        for run in manifest.runs:
            if run.spec == self.index_spec:
                index = self._snap.opened.get(run.index)
                return index if index is not None else self._load(run.index)
        return None

    def _lexical_to_extend(self, manifest: Manifest, analyzer: str | None):
        """The BM25 index an append adds to: the published one, a new one, or _SAME (none to extend)."""
        if manifest.lexical:
            lexical = BM25Index.load(self.root / manifest.lexical, mmap=True)
            if analyzer is not None and lexical.analyzer != analyzer:
                raise ConfigError(
                    f"terms made by analyzer {analyzer!r} cannot join a lexical index built with "
                    f"{lexical.analyzer!r}: analyse with the collection's analyzer (VectorStore.analyzer)"
                )
            return lexical
        if not manifest.runs:
            return BM25Index(analyzer=analyzer)
        return _SAME  # published before lexical indexes: replace_lexical builds one from all texts

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
                run, n = self._without(run, doomed, f"{gen:06d}-{i}")
                removed += n
                if run is not None:
                    runs.append(run)
            lexical = _SAME
            if manifest.lexical:
                lexical = BM25Index.load(self.root / manifest.lexical, mmap=True)
                if lexical.delete(doomed) == 0:
                    lexical = _SAME
                elif lexical.n_stored - len(lexical) > COMPACT_FRACTION * lexical.n_stored:
                    lexical.compact()
            if removed == 0 and lexical is _SAME:
                return 0
            self._publish(manifest, gen, runs=tuple(runs), lexical=lexical)
            return removed

    def _without(self, run: Run, doomed: np.ndarray, name: str) -> tuple[Run | None, int]:
        """``run`` without the vectors of ``doomed`` ids (None when none is left), and how many went."""
        segments, removed = [], 0
        for j, seg in enumerate(run.segments):
            seg_ids = np.load(self.root / seg.ids, mmap_mode="r")
            hit = np.isin(seg_ids, doomed)
            if not hit.any():
                segments.append(seg)
                continue
            removed += int(hit.sum())
            if not hit.all():
                keep = ~hit
                vectors = np.load(self.root / seg.vectors, mmap_mode="r")
                segments.append(write_segment(self.root, f"seg-{name}-{j}", vectors[keep], seg_ids[keep]))
        if removed == 0:
            return run, 0
        if not segments:
            return None, removed
        index = self._load(run.index)  # a copy of its own: the published one stays as readers see it
        index.delete(doomed)
        index.save(str(self.root / f"index-{name}"))
        return Run(tuple(segments), f"index-{name}", run.spec, len(index)), removed

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
    def _schedule_merges(self) -> None:
        if plan_merge(self.read_manifest()) is None:
            return
        if not self.background_merges:
            self.merge()
            return
        with self._merge_lock:
            if self._merger is not None and self._merger.is_alive():
                return  # the running merger re-plans after each merge
            self._merger = threading.Thread(target=self._merge_in_background, name="rag-merge-runs", daemon=True)
            self._merger.start()

    def _merge_in_background(self) -> None:
        try:
            self.merge()
        except Exception:  # a failed merge leaves the runs as they were: appends and searches go on
            log.exception("merging the runs of %s failed; they stay unmerged until the next append", self.root)

    def merge(self) -> int:
        """Merge runs until the merge policy is satisfied; return how many merges published.

        The long part (reading, building, saving the merged run) runs outside the
        write lock, so appends go on meanwhile; the result is published only if
        the runs it replaces are still published unchanged (a removal may have
        rewritten one; the next merge starts from the new state).
        """
        done = 0
        while True:
            manifest = self.read_manifest()
            plan = plan_merge(manifest)
            if plan is None:
                return done
            chosen = [manifest.runs[i] for i in plan]
            with self._write_lock:
                self._names += 1
                name = f"{manifest.generation:06d}-m{self._names}"
                self._pending.update({f"seg-{name}.npy", f"seg-{name}.ids.npy", f"index-{name}"})
            try:
                merged = merge_runs(self.root, manifest, chosen, name, self._load, self._template(manifest))
                with self._write_lock:
                    current = self.read_manifest()
                    if not all(r in current.runs for r in chosen):
                        continue  # superseded while merging; its files are garbage now
                    kept = [r for r in current.runs if r not in chosen]
                    at = min(current.runs.index(r) for r in chosen)  # oldest first: the merge takes the first place
                    self._publish(current, current.generation + 1, runs=(*kept[:at], merged, *kept[at:]))
                    done += 1
            finally:
                with self._write_lock:
                    self._pending.difference_update({f"seg-{name}.npy", f"seg-{name}.ids.npy", f"index-{name}"})

    def wait_for_merges(self) -> None:
        """Block until a background merge in flight (if any) has finished."""
        merger = self._merger
        if merger is not None:
            merger.join()

    def _collect_garbage(self, manifest: Manifest) -> None:
        keep = {MANIFEST, *manifest.names(), *self._pending}
        for entry in self.root.iterdir():
            if entry.name in keep or entry.name.startswith("."):
                continue
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
