"""Runs of a collection's vectors: writing one, choosing which to merge, merging, and searching all.

An append writes its batch as a new run (a segment and a small index over it),
so its cost does not grow with the collection. Runs are merged LSM-style, with
the tiered policy the BM25 index uses too (:mod:`indexes.merge_policy`): a run's tier
is floor(log8(vectors)); eight runs of one tier merge into one, so each vector
is rewritten about log8(N) times, and past :data:`MAX_RUNS` the smallest merge,
bounding the number of indexes a search visits. A merge grows the largest
index of the merged runs in place of rebuilding: the others' vectors are added
to it (an HNSW graph gets them inserted; PQ and IVF-PQ encode them with the
codebooks they were trained with). An index type that learns from data is
trained once, when the collection first holds enough vectors
(:func:`min_train_size`); until then exact ``Flat`` runs serve it, and after
it small batches stay ``Flat`` until a merge encodes them (:func:`new_index`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

import indexes
from indexes.flat import top_k
from indexes.merge_policy import TieredMergePolicy
from rag.store.manifest import Manifest, Run, SegmentFiles

MAX_RUNS = 16
MERGES = TieredMergePolicy(max_parts=MAX_RUNS)
_TRAIN_SEED = 20240229
# A batch under this many vectors joins a learned index's collection as an exact Flat run, until merged.
SMALL_RUN = 2048


def min_train_size(config: indexes.IndexConfig) -> int:
    """Vectors needed before a learned index is trained (the index says: its clustering's bounds)."""
    return config.training_bounds().min_points


def write_segment(root: Path, stem: str, vectors: np.ndarray, ids: np.ndarray) -> SegmentFiles:
    seg = SegmentFiles(f"{stem}.npy", f"{stem}.ids.npy", int(len(ids)))
    np.save(root / seg.vectors, np.ascontiguousarray(vectors, dtype=np.float32))
    np.save(root / seg.ids, np.ascontiguousarray(ids, dtype=np.int64))
    return seg


def run_vectors(root: Path, runs: list[Run] | tuple[Run, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The raw vectors and ids of ``runs`` (memory-mapped when there is one segment)."""
    return _segment_arrays(root, runs, "vectors"), run_ids(root, runs)


def run_ids(root: Path, runs: list[Run] | tuple[Run, ...]) -> np.ndarray:
    """int64 ids of the vectors of ``runs``, in segment order (memory-mapped when there is one segment)."""
    return _segment_arrays(root, runs, "ids")


def _segment_arrays(root: Path, runs: list[Run] | tuple[Run, ...], field: str) -> np.ndarray:
    arrays = [np.load(root / getattr(s, field), mmap_mode="r") for r in runs for s in r.segments]
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


def run_without(
    root: Path, run: Run, doomed: np.ndarray, name: str, load: Callable[[str], indexes.Index]
) -> tuple[Run | None, int]:
    """``run`` without the vectors of ``doomed`` ids (None when none is left), and how many went.

    Segments holding some of them are rewritten without them, and the ids are deleted
    from a fresh copy of the run's index (``load``), saved under ``name``.
    """
    segments, removed = [], 0
    for j, seg in enumerate(run.segments):
        seg_ids = np.load(root / seg.ids, mmap_mode="r")
        hit = np.isin(seg_ids, doomed)
        if not hit.any():
            segments.append(seg)
            continue
        removed += int(hit.sum())
        if not hit.all():
            keep = ~hit
            vectors = np.load(root / seg.vectors, mmap_mode="r")
            segments.append(write_segment(root, f"seg-{name}-{j}", vectors[keep], seg_ids[keep]))
    if removed == 0:
        return run, 0
    if not segments:
        return None, removed
    index = load(run.index)  # a copy of its own: the published one stays as readers see it
    index.delete(doomed)
    index.save(str(root / f"index-{name}"))
    return Run(tuple(segments), f"index-{name}", run.spec, len(index)), removed


def plan_merge(manifest: Manifest) -> list[int] | None:
    """Positions of the runs to merge next, or None while the runs are in shape.

    All runs, when the collection's learned index can be trained and no run holds
    one yet; else eight runs of one tier; else, past :data:`MAX_RUNS`, the smallest.
    """
    runs = manifest.runs
    target = indexes.parse_spec(manifest.index_spec).spec()
    trained = any(r.spec == target for r in runs)
    if runs and not trained and manifest.stored >= min_train_size(indexes.parse_spec(target)):
        return list(range(len(runs)))
    return MERGES.plan([run.stored for run in runs])


def new_index(spec: str, dim: int, metric: str, template: indexes.Index | None, n_vectors: int) -> indexes.Index:
    """An empty index for a new run of ``n_vectors`` vectors.

    Like ``template`` (a published index of ``spec``: trained, for a learned spec) when
    there is one. A learned spec has two exceptions, served by ``Flat`` until a merge
    folds them into a run of the spec: a small batch (under :data:`SMALL_RUN`; an exact
    scan of a few thousand vectors costs less than the coarse step of an IVF search), and
    a collection that cannot be trained yet (the caller trains a fresh index on a batch
    that is large enough alone).
    """
    index = indexes.create(spec, dim, metric)
    if index.is_trained:
        return template.empty_like() if template is not None and template.config.spec() == spec else index
    if template is not None and n_vectors >= SMALL_RUN:
        return template.empty_like()
    if template is None and n_vectors >= min_train_size(index.config):
        return index
    return indexes.create("Flat", dim, metric)


def train_on(index: indexes.Index, x: np.ndarray) -> None:
    """Train a learned index on ``x``, or on a fixed-seed sample of it as large as its clustering uses."""
    cap = index.config.training_bounds().max_points
    if x.shape[0] > cap:
        rows = np.sort(np.random.default_rng(_TRAIN_SEED).choice(x.shape[0], cap, replace=False))
        x = x[rows]
    index.train(np.asarray(x))


def merge_runs(
    root: Path,
    manifest: Manifest,
    chosen: list[Run],
    name: str,
    load: Callable[[str], indexes.Index],
    template: indexes.Index | None,
) -> Run:
    """Merge ``chosen`` runs into one run named ``name`` (its segment and index files are written).

    The largest chosen index grows by the others' vectors when it is of the
    collection's spec, or when it is Flat and the spec cannot be trained yet;
    Flat runs of a learned spec join a new index like ``template`` (a trained run's)
    when there is one, else one trained on all of them.
    ``load`` opens a run's saved index for writing (a fresh copy, not a shared one).
    """
    target = indexes.parse_spec(manifest.index_spec).spec()
    x, ids = run_vectors(root, chosen)
    seg = write_segment(root, f"seg-{name}", x, ids)
    x = np.load(root / seg.vectors, mmap_mode="r")
    largest = max(chosen, key=lambda r: r.count)
    trainable = manifest.stored >= min_train_size(indexes.parse_spec(target))
    if largest.spec == target or (template is None and not trainable):
        index = load(largest.index)
        rest = [r for r in chosen if r is not largest]
        if rest:
            rx, rids = run_vectors(root, rest)
            index.add(np.asarray(rx), np.asarray(rids))
        if getattr(index, "deleted_count", 0):
            index.compact()
    else:
        index = template.empty_like() if template is not None else indexes.create(target, manifest.dim, manifest.metric)
        if not index.is_trained:
            train_on(index, x)
        index.add(np.asarray(x), np.asarray(ids))
    index.save(str(root / f"index-{name}"))
    return Run((seg,), f"index-{name}", index.config.spec(), len(index))


def search_runs(
    searchers: list[tuple[indexes.Index, bool]], q: np.ndarray, k: int, allow, params: dict
) -> indexes.SearchResult:
    """Search every run's index and keep the k best per query.

    Args:
        searchers: (index, takes_params) per run; a Flat run standing in for an untrained
            learned index takes none of its search parameters.
    """
    results = [index.search(q, k, allow=allow, **(params if takes else {})) for index, takes in searchers]
    if len(results) == 1:
        return results[0]
    ids = np.concatenate([r.ids for r in results], axis=1)
    scores = np.concatenate([r.scores for r in results], axis=1)
    pos, best = top_k(scores, k)
    return indexes.SearchResult(np.ascontiguousarray(np.take_along_axis(ids, pos, axis=1)), best)
