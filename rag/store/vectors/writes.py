"""The writing half of :class:`rag.store.vectors.VectorStore`: append, remove and the BM25 index's rewrites,
each published as a new generation by one manifest switch (see the store's docstring)."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np

import indexes
from indexes.errors import DimensionMismatchError
from indexes.lexical import BM25Index
from rag.store.manifest import MANIFEST, Manifest, Run, write_manifest
from rag.store.vectors.lexical import lexical_compacted, lexical_to_extend, lexical_without
from rag.store.vectors.runs import new_index, run_without, train_on, write_segment

_SAME = object()  # _publish: keep what the manifest names


class VectorWrites:
    """Mixed into VectorStore, which provides the attributes below and the reading methods."""

    root: Path
    dim: int
    metric: str
    index_spec: str
    _write_lock: threading.Lock

    def append(
        self,
        vectors: np.ndarray,
        ids: np.ndarray,
        terms: list[list[str]] | None = None,
        analyzer: str | None = None,
        keys: np.ndarray | None = None,
    ) -> None:
        """Add float32 (n, dim) vectors under int64 (n,) ids, with their index terms, and publish them.

        The batch becomes a run of its own; its cost does not grow with the collection.

        Args:
            vectors: float32 (n, dim).
            ids: int64 (n,) chunk ids.
            terms: one term list per vector for the BM25 index; None adds vectors only. A collection
                without a lexical index gets one on its first append, if that append has terms.
            analyzer: the name of the analyzer that made ``terms``; it must be the index's.
            keys: the vectors' routing keys (their documents) for a sharded store; one store ignores them.
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

    def compact_lexical(self) -> bool:
        """Rewrite the BM25 index without its tombstones, if it has any; return whether it did."""
        with self._write_lock:
            manifest = self.read_manifest()
            lexical = lexical_compacted(self.root, manifest)
            if lexical is not None:
                self._publish(manifest, manifest.generation + 1, lexical=lexical)
        return lexical is not None

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

    def _collect_garbage(self, manifest: Manifest) -> None:
        keep = {MANIFEST, *manifest.names(), *self._merger.pending}
        for entry in self.root.iterdir():
            if entry.name in keep or entry.name.startswith("."):
                continue
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
