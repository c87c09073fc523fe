"""Vectors of one collection: memory-mapped ``.npy`` segments plus a saved index.

Publishing is copy-on-write: an append writes a new segment and a new index
directory, then switches ``manifest.json`` by atomic rename. A reader opens
whatever the manifest names, so it sees the state before or after a write,
never half of one. Files no longer named by the manifest are removed after
the switch (open memory maps of them stay valid on POSIX).

Segments hold the raw vectors (the source of truth, for rebuilding an index
with another spec); the index directory is derived from them.

The collection's BM25 index (``lexical-{gen}/``, named in the manifest under
``"lexical"`` with the ``"analyzer"`` that made its terms) is published in the
same switch: an append adds the chunks' terms to it, a removal tombstones them
(compacting past :data:`COMPACT_FRACTION`), so vectors and terms are always
of one generation. A collection published before lexical indexes existed has
none until :meth:`VectorStore.replace_lexical` publishes one (the
:class:`~rag.store.store.Store` builds it from the catalog's chunk texts).
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np

import indexes
from indexes.errors import ConfigError, DimensionMismatchError
from indexes.lexical import BM25Index
from rag.store.manifest import MANIFEST, fsync_paths, named_paths, read_manifest, write_json_atomic

# A removal that leaves more than this fraction of the BM25 index tombstoned compacts it, so
# the N, avgdl and df of its scores (which count tombstoned rows until then) stay close.
COMPACT_FRACTION = 0.2
_SAME = object()  # _publish: keep what the manifest names


def min_train_size(config: indexes.IndexConfig) -> int:
    """Vectors needed before a learned index is trained: about 39 per centroid, as FAISS advises."""
    need = 39 * getattr(config, "nlist", 1)
    if hasattr(config, "m") and hasattr(config, "nbits"):  # product quantizer codebooks
        need = max(need, 39 * 2 ** int(config.nbits))
    return need


class VectorStore:
    """Segments, index and manifest of one collection, under ``root``.

    Args:
        root: the collection's vector directory.
        dim, metric, index_spec: fixed when the collection is created.
    """

    def __init__(self, root: Path, dim: int, metric: str, index_spec: str) -> None:
        self.root = root
        self.dim = dim
        self.metric = metric
        self.index_spec = index_spec
        self._write_lock = threading.Lock()
        self._manifest: dict | None = None
        self._index: indexes.Index | None = None
        self._lexical: BM25Index | None = None
        root.mkdir(parents=True, exist_ok=True)
        self.refresh()

    # -- reading ----------------------------------------------------------
    def read_manifest(self) -> dict:
        return read_manifest(self.root, self.dim, self.metric, self.index_spec)

    def refresh(self) -> None:
        """Reopen the index if another writer published a newer generation."""
        manifest = self.read_manifest()
        if self._manifest is not None and manifest["generation"] == self._manifest["generation"]:
            return
        index = lexical = None
        if manifest["index"]:
            index = indexes.load(str(self.root / manifest["index"]), mmap=True)
        if manifest.get("lexical"):
            lexical = BM25Index.load(self.root / manifest["lexical"], mmap=True)
        self._manifest, self._index, self._lexical = manifest, index, lexical

    @property
    def generation(self) -> int:
        return self._manifest["generation"] if self._manifest else 0

    def __len__(self) -> int:
        return len(self._index) if self._index is not None else 0

    def search(self, q: np.ndarray, k: int, allow=None, **params) -> indexes.SearchResult:
        """Search the published index; an empty collection gives all -1 results."""
        self.refresh()
        index = self._index  # a snapshot: writers swap the reference, never mutate it
        if index is None:
            q2 = np.atleast_2d(q)
            return indexes.base.empty_result(q2.shape[0], k)
        return index.search(q, k, allow=allow, **params)

    @property
    def lexical(self) -> BM25Index | None:
        """The published BM25 index (None: a collection from before lexical indexes, or never written)."""
        self.refresh()
        return self._lexical

    @property
    def analyzer(self) -> str | None:
        """Name of the analyzer whose terms the published BM25 index holds (None without one)."""
        self.refresh()
        return self._manifest.get("analyzer") if self._manifest.get("lexical") else None

    def search_text(self, queries: list[list[str]], k: int, allow=None) -> indexes.SearchResult:
        """BM25 search of the published lexical index with analysed queries (one term list each)."""
        self.refresh()
        lexical = self._lexical  # a snapshot, as in search
        if lexical is None:
            return indexes.base.empty_result(len(queries), k)
        return lexical.search(queries, k, allow=allow)

    def segment_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """All raw vectors and their ids, float32 (n, dim) and int64 (n,), memory-mapped per segment."""
        manifest = self.read_manifest()
        vecs = [np.load(self.root / s["vectors"], mmap_mode="r") for s in manifest["segments"]]
        ids = [np.load(self.root / s["ids"], mmap_mode="r") for s in manifest["segments"]]
        if not vecs:
            return np.empty((0, self.dim), np.float32), np.empty(0, np.int64)
        return np.concatenate(vecs), np.concatenate(ids)

    def stored_count(self) -> int:
        """How many vectors the published segments hold (from the manifest; no array is read)."""
        return sum(int(s["count"]) for s in self.read_manifest()["segments"])

    def stored_ids(self) -> np.ndarray:
        """int64 (n,) ids of every vector in the published segments."""
        manifest = self.read_manifest()
        ids = [np.load(self.root / s["ids"], mmap_mode="r") for s in manifest["segments"]]
        return np.concatenate(ids) if ids else np.empty(0, np.int64)

    # -- writing ----------------------------------------------------------
    def append(
        self, vectors: np.ndarray, ids: np.ndarray, terms: list[list[str]] | None = None, analyzer: str | None = None
    ) -> None:
        """Add float32 (n, dim) vectors under int64 (n,) ids, with their index terms, and publish them.

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
        with self._write_lock:
            manifest = self.read_manifest()
            gen = manifest["generation"] + 1
            seg = self._write_segment(f"seg-{gen:06d}", vectors, ids)
            segments = manifest["segments"] + [seg]
            active = manifest.get("active_spec", self.index_spec)
            if manifest["index"] and active == self.index_spec:
                index = indexes.load(str(self.root / manifest["index"]), mmap=True)
                index.add(vectors, ids)
            else:
                index = self._build(segments)
            lexical = _SAME
            if terms is not None:
                lexical = self._lexical_to_extend(manifest, analyzer)
                if lexical is not _SAME:
                    lexical.add(terms, ids)
            self._publish(manifest, gen, segments=segments, index=index, lexical=lexical)

    def _lexical_to_extend(self, manifest: dict, analyzer: str | None):
        """The BM25 index an append adds to: the published one, a new one, or _SAME (none to extend)."""
        if manifest.get("lexical"):
            lexical = BM25Index.load(self.root / manifest["lexical"], mmap=True)
            if analyzer is not None and lexical.analyzer != analyzer:
                raise ConfigError(
                    f"terms made by analyzer {analyzer!r} cannot join a lexical index built with "
                    f"{lexical.analyzer!r}: analyse with the collection's analyzer (VectorStore.analyzer)"
                )
            return lexical
        if not manifest["segments"]:
            return BM25Index(analyzer=analyzer)
        return _SAME  # published before lexical indexes: replace_lexical builds one from all texts

    def replace_lexical(self, lexical: BM25Index) -> None:
        """Publish ``lexical`` as the collection's BM25 index (a rebuild), keeping vectors and index."""
        with self._write_lock:
            manifest = self.read_manifest()
            self._publish(manifest, manifest["generation"] + 1, lexical=lexical)

    def remove(self, ids: np.ndarray) -> int:
        """Remove the vectors stored under ``ids`` (int64) from segments and indexes; return how many were found.

        Used to undo vectors whose catalog rows never committed (a failed or
        interrupted upload). Segments that hold none of ``ids`` are kept as they
        are; the others are rewritten without them. The BM25 index tombstones
        the ids (also ids that have no vector) and is compacted once more than
        :data:`COMPACT_FRACTION` of its rows are tombstones.
        """
        doomed = np.unique(np.asarray(ids, dtype=np.int64))
        if doomed.size == 0:
            return 0
        with self._write_lock:
            manifest = self.read_manifest()
            gen = manifest["generation"] + 1
            segments, removed = [], 0
            for i, seg in enumerate(manifest["segments"]):
                seg_ids = np.load(self.root / seg["ids"], mmap_mode="r")
                hit = np.isin(seg_ids, doomed)
                if not hit.any():
                    segments.append(seg)
                    continue
                removed += int(hit.sum())
                if not hit.all():
                    keep = ~hit
                    seg_vectors = np.load(self.root / seg["vectors"], mmap_mode="r")
                    segments.append(self._write_segment(f"seg-{gen:06d}-{i}", seg_vectors[keep], seg_ids[keep]))
            lexical = _SAME
            if manifest.get("lexical"):
                lexical = BM25Index.load(self.root / manifest["lexical"], mmap=True)
                if lexical.delete(doomed) == 0:
                    lexical = _SAME
                elif lexical.n_stored - len(lexical) > COMPACT_FRACTION * lexical.n_stored:
                    lexical.compact()
            if removed == 0 and lexical is _SAME:
                return 0
            index = _SAME
            if removed:
                index = None
                if segments:
                    index = indexes.load(str(self.root / manifest["index"]), mmap=True)
                    index.delete(doomed)
            self._publish(manifest, gen, segments=segments, index=index, lexical=lexical)
            return removed

    def _write_segment(self, stem: str, vectors: np.ndarray, ids: np.ndarray) -> dict:
        seg = {"vectors": f"{stem}.npy", "ids": f"{stem}.ids.npy", "count": int(len(ids))}
        np.save(self.root / seg["vectors"], np.ascontiguousarray(vectors, dtype=np.float32))
        np.save(self.root / seg["ids"], np.ascontiguousarray(ids, dtype=np.int64))
        return seg

    def _publish(self, manifest: dict, gen: int, *, segments=_SAME, index=_SAME, lexical=_SAME) -> None:
        """Save what changed as generation ``gen`` and switch the manifest to it.

        Args:
            segments: the new segment list; ``index``: the vector index (None: empty);
            lexical: the BM25 index (None: none). Each left at _SAME keeps what ``manifest`` names.
        """
        new = dict(manifest, generation=gen)
        if segments is not _SAME:
            new["segments"] = segments
        if index is not _SAME:
            new["index"] = None
            if index is not None:
                new["index"] = f"index-{gen:06d}"
                index.save(str(self.root / new["index"]))
            new["count"] = len(index) if index is not None else 0
            new["active_spec"] = index.config.spec() if index is not None else self.index_spec
        if lexical is not _SAME:
            new["lexical"] = f"lexical-{gen:06d}" if lexical is not None else None
            new["analyzer"] = lexical.analyzer if lexical is not None else None
            if lexical is not None:
                lexical.save(self.root / new["lexical"])
        fsync_paths(named_paths(self.root, new))  # the data first: then the switch that names it
        write_json_atomic(self.root / MANIFEST, new)
        self._collect_garbage(new)
        self._manifest = new
        self._index = indexes.load(str(self.root / new["index"]), mmap=True) if new["index"] else None
        self._lexical = BM25Index.load(self.root / new["lexical"], mmap=True) if new.get("lexical") else None

    def _build(self, segments: list[dict]) -> indexes.Index:
        """Build the collection's index from all raw vectors.

        Index types that learn from data (PQ, IVF-PQ) are trained once the
        collection holds enough vectors (:func:`min_train_size`); until then an
        exact ``Flat`` index serves the collection, which is fast at that size.
        """
        x = np.concatenate([np.load(self.root / s["vectors"], mmap_mode="r") for s in segments])
        ids = np.concatenate([np.load(self.root / s["ids"], mmap_mode="r") for s in segments])
        index = indexes.create(self.index_spec, self.dim, self.metric)
        if not index.is_trained:
            if x.shape[0] < min_train_size(index.config):
                index = indexes.create("Flat", self.dim, self.metric)
            else:
                index.train(x)
        index.add(x, ids)
        return index

    def _collect_garbage(self, manifest: dict) -> None:
        keep = {MANIFEST, manifest["index"], manifest.get("lexical")} - {None}
        for seg in manifest["segments"]:
            keep.update((seg["vectors"], seg["ids"]))
        for entry in self.root.iterdir():
            if entry.name in keep or entry.name.startswith("."):
                continue
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
