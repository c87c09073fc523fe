"""8-bit scalar quantization of the stored vectors, for walking the level-0 graph with 4x fewer bytes.

At a million 384-d vectors the float32 rows are 1.5 GB and a query's walk is
bound by the random memory reads of the rows it scores (24 cache lines each).
A query can instead walk the graph scoring ``codes`` (uint8, one byte per
dimension: 6 cache lines at d = 384), then re-rank the ``ef`` rows it kept with
the exact float32 vectors, so its results and scores are exact distances over
the candidates the walk found (see :func:`rerank`).

Each dimension ``j`` is coded as ``round((x_j - lo_j) / step_j)`` in 0..255
(``lo_j``, ``step_j`` from the rows' range; rows added later clip to it). A
coded row is scored against a *coded query* with the plain kernels of
:mod:`indexes.kernels`, so the graph walks of :mod:`indexes.hnsw.graph` run on
codes unchanged:

* ``IP`` (and cosine): ``q . x = sum_j q_j lo_j + sum_j (q_j step_j) c_j``;
  the first sum is the same for every row, so the coded query is
  ``q_j step_j`` and the kernel's ``-sum_j q'_j c_j`` orders rows as ``-q . x``;
* ``L2``: one ``step`` for every dimension, so ``|q - x|^2 = step^2 sum_j
  (q'_j - c_j)^2`` with the coded query ``q'_j = (q_j - lo_j) / step``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from indexes.hnsw.graph import prefetch_rest, prefetch_vector
from indexes.kernels import L2, distance, topk_push, topk_write

# The vectors' size (bytes) from which ``traverse="auto"`` walks on codes: past
# the few tens of MB of a last-level cache, each scored row is a memory read.
AUTO_MIN_BYTES = 64 << 20


def train(x: np.ndarray, metric: int) -> tuple[np.ndarray, np.ndarray]:
    """(lo, step) float32 (d,) of the code for rows ``x`` (float32 (n, d)) under kernel ``metric``."""
    d = x.shape[1]
    if x.shape[0] == 0:
        return np.zeros(d, np.float32), np.ones(d, np.float32)
    lo, hi = _column_range(x)
    span = hi - lo
    if metric == L2:
        span = np.full(d, span.max(), dtype=np.float32)  # one step: distances stay Euclidean
    step = np.where(span > 0, span / 255.0, 1.0).astype(np.float32)
    return lo.astype(np.float32), step


@njit(nogil=True, cache=True)
def _column_range(x):
    """Per-column minimum and maximum of float32 (n >= 1, d), one pass over the rows."""
    lo = x[0].copy()
    hi = x[0].copy()
    for i in range(1, x.shape[0]):
        for j in range(x.shape[1]):
            v = x[i, j]
            if v < lo[j]:
                lo[j] = v
            elif v > hi[j]:
                hi[j] = v
    return lo, hi


@njit(nogil=True, cache=True)
def encode(x, lo, step, out):
    """Code rows ``x`` (float32 (n, d)) into ``out`` (uint8 (n, d)), clipping values outside the range."""
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            c = np.floor((x[i, j] - lo[j]) / step[j] + np.float32(0.5))
            out[i, j] = np.uint8(min(max(c, 0.0), 255.0))


@njit(nogil=True, cache=True)
def code_query(q, lo, step, metric, out):
    """The coded query of float32 ``q`` (d,) into ``out`` (see the module docstring)."""
    if metric == L2:
        for j in range(q.shape[0]):
            out[j] = (q[j] - lo[j]) / step[j]
    else:
        for j in range(q.shape[0]):
            out[j] = q[j] * step[j]


@njit(nogil=True, cache=True)
def rerank(q, x, rows, dists, count, k, metric, neg, vals):
    """Rescore ``rows[:count]`` with the exact float32 vectors ``x``; the best ``min(k, count)`` go back into
    ``rows``/``dists`` closest first. ``neg``/``vals``: scratch of ``k`` entries. Returns that count."""
    for i in range(count):
        prefetch_vector(x, rows[i])
    size = 0
    for i in range(count):
        if i + 1 < count:
            prefetch_rest(x, rows[i + 1])
        size = topk_push(neg, vals, size, k, distance(x, rows[i], q, metric), rows[i])
    kept = size
    topk_write(neg, vals, size, rows[:kept], dists[:kept])
    return kept


def make_codes(x: np.ndarray, metric: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(codes uint8 (n, d), lo, step) of float32 rows ``x`` under kernel ``metric``."""
    lo, step = train(x, metric)
    codes = np.empty(x.shape, dtype=np.uint8)
    encode(x, lo, step, codes)
    return codes, lo, step


def no_codes(dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (codes, lo, step) of a search handle that walks on float32 only: no rows."""
    return np.zeros((0, dim), np.uint8), np.zeros(dim, np.float32), np.ones(dim, np.float32)


def append_codes(sq: tuple, used: int, x_new: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``sq`` (codes with ``used`` rows in use, lo, step) with rows ``x_new`` coded after them.

    The codes array grows by half its size when full (and is copied when it is a
    read-only memory map), so adding in small batches costs O(batch) per add.
    """
    codes, lo, step = sq
    need = used + x_new.shape[0]
    if need > codes.shape[0] or not codes.flags.writeable:
        grown = np.empty((max(need, int(codes.shape[0] * 1.5)), codes.shape[1]), dtype=np.uint8)
        grown[:used] = codes[:used]
        codes = grown
    encode(x_new, lo, step, codes[used:need])
    return codes, lo, step
