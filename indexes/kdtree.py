"""KDTree: a KD-tree searched best-first (Friedman, Bentley & Finkel 1977; Arya & Mount 1993).

Spec ``KD{leaf_size}`` (e.g. ``KD32``). The tree splits at the median of the
dimension with the largest spread until at most ``leaf_size`` vectors remain,
and stores each node's tight bounding box. Search pops nodes from a priority
queue ordered by the best score any point of the box could reach, and stops
when no box can beat the current k-th result: with ``max_leaves=None`` the
answer is exact; a ``max_leaves`` budget gives the approximate
best-bin-first search of Beis & Lowe.

Vectors added after a build go to an exactly-scanned tail; the tree is rebuilt
when the tail exceeds a quarter of the tree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numba import njit

from indexes.approximate import ApproximateIndex, FilteredParams, positive
from indexes.base import IndexConfig, register
from indexes.errors import IndexFormatError
from indexes.kernels import (
    IP,
    L2,
    distance,
    heap_pop,
    heap_push,
    mask_or_empty,
    to_scores,
    topk_push,
    topk_worst,
    topk_write,
)

# Largest leaf a spec may ask for: past this a leaf scan is a flat scan.
MAX_LEAF_SIZE = 4096


@dataclass(frozen=True)
class KDTreeConfig(IndexConfig):
    """Build parameters of :class:`KDTree`.

    Attributes:
        leaf_size: most vectors per leaf (small: more pruning, more nodes).
    """

    pattern: ClassVar[re.Pattern[str]] = re.compile(r"KD(\d+)")
    example: ClassVar[str] = "KD32"

    leaf_size: int = 32

    def __post_init__(self) -> None:
        positive("KD leaf_size", self.leaf_size, maximum=MAX_LEAF_SIZE)

    @classmethod
    def from_match(cls, match: re.Match[str]) -> KDTreeConfig:
        return cls(leaf_size=int(match.group(1)))

    def spec(self) -> str:
        return f"KD{self.leaf_size}"


@dataclass(frozen=True)
class KDTreeParams(FilteredParams):
    """Attributes:
    max_leaves: leaves scanned per query before stopping; None searches until
        the result is provably exact.
    """

    max_leaves: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_leaves is not None:
            positive("max_leaves", self.max_leaves)


def build_tree(x: np.ndarray, leaf_size: int) -> dict[str, np.ndarray]:
    """Build a median-split KD-tree over float32 (n, d) points.

    Returns:
        ``perm`` int64 (n,) tree order of the rows; per node (int32 (nodes,))
        ``left``/``right`` children (-1 for leaves) and ``start``/``end`` row
        ranges in tree order; ``lo``/``hi`` float32 (nodes, d) bounding boxes.
    """
    n = x.shape[0]
    perm = np.arange(n, dtype=np.int64)
    left, right, start, end, lo, hi = [], [], [], [], [], []
    stack = [(0, n, -1, False)] if n else []  # (start, end, parent, is_right_child)
    while stack:
        s, e, parent, is_right = stack.pop()
        node = len(start)
        if parent >= 0:
            (right if is_right else left)[parent] = node
        pts = x[perm[s:e]]
        box_lo, box_hi = pts.min(axis=0), pts.max(axis=0)
        left.append(-1), right.append(-1), start.append(s), end.append(e), lo.append(box_lo), hi.append(box_hi)
        spread = box_hi - box_lo
        dim = int(np.argmax(spread))
        if e - s <= leaf_size or spread[dim] <= 0:
            continue
        mid = (s + e) // 2
        part = np.argpartition(pts[:, dim], mid - s)
        perm[s:e] = perm[s:e][part]
        stack.append((mid, e, node, True))
        stack.append((s, mid, node, False))
    return {
        "perm": perm,
        "left": np.asarray(left, dtype=np.int32),
        "right": np.asarray(right, dtype=np.int32),
        "start": np.asarray(start, dtype=np.int32),
        "end": np.asarray(end, dtype=np.int32),
        "lo": np.asarray(lo, dtype=np.float32).reshape(-1, x.shape[1]),
        "hi": np.asarray(hi, dtype=np.float32).reshape(-1, x.shape[1]),
    }


@njit(nogil=True, cache=True, fastmath=True)
def box_bound(q, lo, hi, node, metric):
    """Smallest distance from ``q`` any point in the box of ``node`` could have."""
    s = np.float32(0.0)
    if metric == L2:
        for j in range(q.shape[0]):
            gap = max(lo[node, j] - q[j], q[j] - hi[node, j], np.float32(0.0))
            s += gap * gap
        return s
    for j in range(q.shape[0]):
        s += max(q[j] * lo[node, j], q[j] * hi[node, j])
    return -s


@njit(nogil=True, cache=True)
def _scan(q, x, lo_row, hi_row, mask, has_mask, metric, neg, vals, size, k):
    for r in range(lo_row, hi_row):
        if not has_mask or mask[r]:
            size = topk_push(neg, vals, size, k, distance(x, r, q, metric), r)
    return size


@njit(nogil=True, cache=True)
def kd_search(q, x, tree_rows, left, right, start, end, lo, hi, max_leaves, k, metric, mask, out_rows, out_dist):
    """Best-first KD-tree search for a batch of queries.

    Args:
        q: float32 (nq, d) queries; x: float32 (n, d) rows in tree order, then the tail.
        tree_rows: rows covered by the tree; rows ``tree_rows:`` are scanned exactly.
        left, right, start, end: int32 (nodes,) tree structure; lo, hi: float32 (nodes, d) boxes.
        max_leaves: leaf budget per query, 0 for unbounded (exact).
        k: results per query; metric: ``L2`` or ``IP``.
        mask: bool (n,) allowed rows, or empty for all.
        out_rows: int64 (nq, k), out_dist: float32 (nq, k) outputs.
    """
    n_nodes = left.shape[0]
    has_mask = mask.shape[0] > 0
    neg = np.empty(k, dtype=np.float32)
    vals = np.empty(k, dtype=np.int64)
    heap_keys = np.empty(max(n_nodes, 1), dtype=np.float32)
    heap_vals = np.empty(max(n_nodes, 1), dtype=np.int64)
    for qi in range(q.shape[0]):
        qv = q[qi]
        size = _scan(qv, x, tree_rows, x.shape[0], mask, has_mask, metric, neg, vals, 0, k)
        queued = 0
        if n_nodes > 0:
            queued = heap_push(heap_keys, heap_vals, 0, box_bound(qv, lo, hi, 0, metric), np.int64(0))
        leaves = 0
        while queued > 0:
            bound, node = heap_keys[0], heap_vals[0]
            queued = heap_pop(heap_keys, heap_vals, queued)
            if bound >= topk_worst(neg, size, k):
                break
            if left[node] < 0:
                size = _scan(qv, x, start[node], end[node], mask, has_mask, metric, neg, vals, size, k)
                leaves += 1
                if max_leaves > 0 and leaves >= max_leaves:
                    break
                continue
            for child in (left[node], right[node]):
                b = box_bound(qv, lo, hi, child, metric)
                if b < topk_worst(neg, size, k):
                    queued = heap_push(heap_keys, heap_vals, queued, b, np.int64(child))
        topk_write(neg, vals, size, out_rows[qi], out_dist[qi])


_TREE_ARRAYS = ("left", "right", "start", "end", "lo", "hi")


@register
class KDTree(ApproximateIndex):
    """KD-tree with best-first search: exact when unbounded, approximate with ``max_leaves``."""

    config_cls = KDTreeConfig
    search_params_cls = KDTreeParams

    def __init__(self, config: KDTreeConfig, dim: int, metric: str = "cosine") -> None:
        super().__init__(config, dim, metric)
        self._x = np.empty((0, self.dim), dtype=np.float32)
        self._tree_rows = 0
        self._tree = build_tree(self._x, config.leaf_size)
        # Unit vectors (cosine) are searched in L2, where boxes bound tightly.
        self._internal = L2 if self.metric in ("l2", "cosine") else IP

    def add(self, x: np.ndarray, ids: np.ndarray | None = None) -> np.ndarray:
        x, ids = self._prepare_add(x, ids)
        self._x = np.concatenate([self._x, x])
        self._append_ids(ids)
        if self._x.shape[0] - self._tree_rows > self._tree_rows // 4:
            self._rebuild(None)
        return ids

    def _rebuild(self, keep: np.ndarray | None) -> None:
        """Rebuild the tree over rows ``keep`` (all rows when None), reordering rows to tree order."""
        x = self._x if keep is None else self._x[keep]
        tree = build_tree(np.asarray(x), self.config.leaf_size)
        perm = tree.pop("perm")
        rows = perm if keep is None else keep[perm]
        self._x = np.ascontiguousarray(self._x[rows])
        self._ids = np.ascontiguousarray(self._ids[rows])
        if self._live is not None:
            self._live = self._live[rows]
        self._tree, self._tree_rows = tree, rows.shape[0]

    def compact(self) -> None:
        if self._live is None:
            return
        self._rebuild(np.flatnonzero(self._live))
        self._reset_rows(None)

    def _search_rows(self, q: np.ndarray, k: int, params: KDTreeParams, mask: np.ndarray | None):
        rows = np.empty((q.shape[0], k), dtype=np.int64)
        dist = np.empty((q.shape[0], k), dtype=np.float32)
        t = self._tree
        kd_search(
            q,
            self._x,
            self._tree_rows,
            t["left"],
            t["right"],
            t["start"],
            t["end"],
            t["lo"],
            t["hi"],
            self._scaled_budget(params.max_leaves, mask) if params.max_leaves else 0,
            k,
            self._internal,
            mask_or_empty(mask),
            rows,
            dist,
        )
        return rows, to_scores(dist, self.metric, self._internal)

    def _raw_vectors(self) -> np.ndarray:
        return self._x

    def arrays(self) -> dict[str, np.ndarray]:
        return {"vectors": self._x, **{name: self._tree[name] for name in _TREE_ARRAYS}, **self._row_arrays()}

    def state(self) -> dict[str, Any]:
        return {**super().state(), "tree_rows": self._tree_rows}

    @classmethod
    def from_arrays(cls, config, dim, metric, arrays, state: dict[str, Any]) -> KDTree:
        index = cls(config, dim, metric)
        index._x = arrays["vectors"]
        index._tree = {name: arrays[name] for name in _TREE_ARRAYS}
        index._tree_rows = int(state["tree_rows"])
        index._load_rows(arrays, state)
        if index._tree_rows > index._x.shape[0]:
            raise IndexFormatError("saved KD index is inconsistent: tree_rows exceeds the stored vectors")
        return index
