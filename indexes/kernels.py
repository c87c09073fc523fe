"""Numba kernels shared by the approximate indexes: distances, binary heaps, top-k.

Inside kernels everything is a *distance* (lower is better):

* ``IP``: the negative inner product (cosine uses it on normalised vectors);
* ``L2``: the squared Euclidean distance;
* ``COS``: product-quantization kernels only: the negative cosine between the
  query and a vector's reconstruction (see :mod:`indexes.ivf_scan`).

Public scores are "higher is better"; :func:`to_scores` converts. Heaps are
plain arrays (keys float32, values int64) plus a size, so kernels allocate
nothing per pushed element. Every kernel is ``nogil`` so that queries issued
from several Python threads run in parallel.
"""

from __future__ import annotations

import numpy as np
from numba import njit

IP = 0
L2 = 1
COS = 2

_EMPTY_MASK = np.zeros(0, dtype=np.bool_)


def kernel_metric(metric: str) -> int:
    """Kernel code for a public metric name: ``L2`` for "l2", ``IP`` otherwise."""
    return L2 if metric == "l2" else IP


def to_scores(dist: np.ndarray, metric: str, internal: int) -> np.ndarray:
    """Convert kernel distances (n, k) to public scores; +inf (padding) becomes -inf.

    Args:
        dist: float32 (n, k) distances computed with kernel metric ``internal``.
        metric: the index's public metric.
        internal: the kernel metric; cosine indexes that search in ``L2`` on unit
            vectors report ``1 - d / 2``, which is the cosine similarity.
    """
    if metric == "cosine" and internal == L2:
        return (1.0 - 0.5 * dist).astype(np.float32, copy=False)
    return np.negative(dist, dtype=np.float32)


@njit(nogil=True, cache=True)
def rows_to_ids(rows, scores, ids, out_ids, out_scores):
    """Map result rows to the caller's ids; rows of -1 become id -1 with score -inf.

    Args:
        rows: int64 (n, kk) result rows; scores: float32 (n, kk).
        ids: int64 (rows,) id of every stored row.
        out_ids: int64 (n, k), out_scores: float32 (n, k) outputs (k may exceed kk).
    """
    for i in range(out_ids.shape[0]):
        for j in range(out_ids.shape[1]):
            r = rows[i, j] if j < rows.shape[1] else -1
            if r >= 0:
                out_ids[i, j] = ids[r]
                out_scores[i, j] = scores[i, j]
            else:
                out_ids[i, j] = -1
                out_scores[i, j] = -np.inf


@njit(nogil=True, cache=True)
def unit_rows(x):
    """float32 (n, d) copy of ``x`` with rows scaled to unit L2 norm (zero rows stay zero)."""
    out = np.empty(x.shape, dtype=np.float32)
    for i in range(x.shape[0]):
        s = 0.0
        for j in range(x.shape[1]):
            s += np.float64(x[i, j]) * x[i, j]
        scale = 1.0 / np.sqrt(s) if s > 0 else 0.0
        for j in range(x.shape[1]):
            out[i, j] = x[i, j] * scale
    return out


def mask_or_empty(mask: np.ndarray | None) -> np.ndarray:
    """Kernels take a bool mask over rows; an empty one means "every row allowed"."""
    return _EMPTY_MASK if mask is None else np.ascontiguousarray(mask, dtype=np.bool_)


@njit(nogil=True, cache=True, fastmath=True)
def distance(x, row, q, metric):
    """Distance between stored row ``x[row]`` (d,) and query ``q`` (d,), float32."""
    s = np.float32(0.0)
    if metric == L2:
        for j in range(q.shape[0]):
            t = x[row, j] - q[j]
            s += t * t
        return s
    for j in range(q.shape[0]):
        s += x[row, j] * q[j]
    return -s


@njit(nogil=True, cache=True, fastmath=True)
def row_distance(x, a, b, metric):
    """Distance between stored rows ``x[a]`` and ``x[b]``."""
    s = np.float32(0.0)
    if metric == L2:
        for j in range(x.shape[1]):
            t = x[a, j] - x[b, j]
            s += t * t
        return s
    for j in range(x.shape[1]):
        s += x[a, j] * x[b, j]
    return -s


@njit(nogil=True, cache=True)
def heap_push(keys, vals, size, key, val):
    """Push (key, val) onto the min-heap ``keys[:size]``; return the new size.

    The caller guarantees ``size < keys.shape[0]``.
    """
    i = size
    while i > 0:
        parent = (i - 1) >> 1
        if keys[parent] <= key:
            break
        keys[i] = keys[parent]
        vals[i] = vals[parent]
        i = parent
    keys[i] = key
    vals[i] = val
    return size + 1


@njit(nogil=True, cache=True)
def heap_sift_down(keys, vals, size, key, val):
    """Place (key, val) at the root of ``keys[:size]`` and restore the heap order."""
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and keys[child + 1] < keys[child]:
            child += 1
        if keys[child] >= key:
            break
        keys[i] = keys[child]
        vals[i] = vals[child]
        i = child
    keys[i] = key
    vals[i] = val


@njit(nogil=True, cache=True)
def heap_pop(keys, vals, size):
    """Remove the root (read it first from ``keys[0], vals[0]``); return the new size."""
    size -= 1
    if size > 0:
        heap_sift_down(keys, vals, size, keys[size], vals[size])
    return size


@njit(nogil=True, cache=True)
def heap_grow(keys, vals):
    """Double the capacity of a heap; returns the new (keys, vals)."""
    new_keys = np.empty(keys.shape[0] * 2, dtype=keys.dtype)
    new_vals = np.empty(vals.shape[0] * 2, dtype=vals.dtype)
    new_keys[: keys.shape[0]] = keys
    new_vals[: vals.shape[0]] = vals
    return new_keys, new_vals


@njit(nogil=True, cache=True)
def topk_push(neg, vals, size, k, dist, val):
    """Offer ``dist`` to a "k smallest distances" collector; return its new size.

    The collector is a min-heap of *negated* distances, so its root is the
    worst kept distance and is evicted first.
    """
    if size < k:
        return heap_push(neg, vals, size, -dist, val)
    if -dist > neg[0]:
        heap_sift_down(neg, vals, size, -dist, val)
    return size


@njit(nogil=True, cache=True)
def topk_worst(neg, size, k):
    """The distance a newcomer must beat to enter the collector (+inf while not full)."""
    if size < k:
        return np.inf
    return -neg[0]


@njit(nogil=True, cache=True)
def topk_write(neg, vals, size, out_rows, out_dist):
    """Empty the collector into ``out_rows``/``out_dist`` (k,), best first, padded with -1/+inf."""
    for j in range(size, out_rows.shape[0]):
        out_rows[j] = -1
        out_dist[j] = np.inf
    while size > 0:
        out_rows[size - 1] = vals[0]
        out_dist[size - 1] = -neg[0]
        size = heap_pop(neg, vals, size)


@njit(nogil=True, cache=True)
def rescore(q, x, cand, k, metric, out_rows, out_dist):
    """Exact top-k of queries over their own candidate rows.

    Args:
        q: float32 (nq, d) queries.
        x: float32 (n, d) stored vectors.
        cand: int64 (nq, c) candidate rows per query; -1 entries are skipped.
        k: results per query.
        metric: ``IP`` or ``L2``.
        out_rows: int64 (nq, k) output rows, best first, -1 padded.
        out_dist: float32 (nq, k) output distances, +inf padded.
    """
    neg = np.empty(k, dtype=np.float32)
    vals = np.empty(k, dtype=np.int64)
    for qi in range(q.shape[0]):
        size = 0
        for i in range(cand.shape[1]):
            r = cand[qi, i]
            if r >= 0:
                size = topk_push(neg, vals, size, k, distance(x, r, q[qi], metric), r)
        topk_write(neg, vals, size, out_rows[qi], out_dist[qi])
