"""Lloyd's k-means, used for PQ codebooks and the IVF coarse quantizer.

Assignment ranks centroids by ``||c||^2 - 2 x.c``: for ``d >= 16`` the dot
products are a BLAS matrix product over blocks of rows (as FAISS does; about
twice the speed of a loop at 96-d and 4096 centroids), and for the few
dimensions of a PQ subspace a numba loop over blocks of points that never
writes the (n, k) products. Both keep a branch-free running minimum per point
with the centroid in the outer loop, so the inner loop runs along points in
AVX-512 lanes: a per-point argmin over the centroids is a serial chain of
compares, about 10x slower at 2-d and 256 centroids (3x at 8-d). The centroid
update is a numba loop. Empty clusters are re-seeded by splitting the largest
cluster, as FAISS does, so every centroid stays useful.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Points per centroid a k-means needs and uses (FAISS's Clustering bounds): under the first
# the centroids are poor (FAISS warns), past the second a fixed-seed sample is drawn.
MIN_POINTS_PER_CENTROID = 39
MAX_POINTS_PER_CENTROID = 256
# Below this many dimensions per point, the loop beats a BLAS product (measured at 2-8 vs 38-96).
_BLAS_MIN_DIM = 16
# Float32 products per block of the BLAS assignment: 16 MiB of scratch whatever k is.
_BLOCK_PRODUCTS = 1 << 22
# Points per block of the small-d assignment: their coordinates, best values and labels stay in L1.
ROW_BLOCK = 256


def assign(x: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid (squared L2) of every row.

    Args:
        x: float32 (n, d) points.
        centroids: float32 (k, d).
    Returns:
        labels int64 (n,), squared distances float32 (n,).
    """
    centroids = np.ascontiguousarray(centroids, dtype=np.float32)
    x = np.ascontiguousarray(x, dtype=np.float32)
    c_norm = np.einsum("ij,ij->i", centroids, centroids).astype(np.float32)
    labels = np.empty(x.shape[0], dtype=np.int64)
    dists = np.empty(x.shape[0], dtype=np.float32)
    if x.shape[1] < _BLAS_MIN_DIM:
        _assign_small(x, centroids, c_norm, labels, dists)
        return labels, dists
    k = centroids.shape[0]
    block = max(1, _BLOCK_PRODUCTS // k)
    scratch = np.empty(k * min(block, x.shape[0]), dtype=np.float32)
    for start in range(0, x.shape[0], block):
        rows = x[start : start + block]
        dots = scratch[: k * rows.shape[0]].reshape(k, rows.shape[0])  # (k, rows): the pick runs along rows
        np.matmul(centroids, rows.T, out=dots)
        _pick(rows, dots, c_norm, labels[start : start + block], dists[start : start + block])
    return labels, dists


@njit(nogil=True, cache=True, fastmath=True)
def _pick(x, dots, c_norm, labels, dists):
    """Fill labels (n,) and dists (n,) from points x (n, d) and their dot products (k, n) with the centroids."""
    n = x.shape[0]
    best = np.full(n, np.inf, dtype=np.float32)
    lab = np.zeros(n, dtype=np.int32)
    for c in range(dots.shape[0]):
        cn = c_norm[c]
        row = dots[c]
        for i in range(n):
            _keep_better(cn - np.float32(2.0) * row[i], c, i, best, lab)
    _finish(x, 0, n, best, lab, labels, dists)


@njit(nogil=True, cache=True, fastmath=True, inline="always")
def _keep_better(v, c, i, best, lab):
    """Branch-free running minimum, so that the loop over rows around it vectorises."""
    better = v < best[i]
    best[i] = v if better else best[i]
    lab[i] = c if better else lab[i]


@njit(nogil=True, cache=True, fastmath=True)
def _finish(x, start, b, best, lab, labels, dists):
    """Write labels and ``||x||^2 + best`` (clamped at 0) of rows ``start .. start + b`` of x (n, d)."""
    for i in range(b):
        x_norm = np.float32(0.0)
        for t in range(x.shape[1]):
            x_norm += x[start + i, t] * x[start + i, t]
        labels[start + i] = lab[i]
        dists[start + i] = max(best[i] + x_norm, np.float32(0.0))


@njit(nogil=True, cache=True, fastmath=True)
def nearest_block(xt, b, centroids, c_norm, acc, best, lab):
    """Nearest centroid of ``b`` points given as ``xt`` float32 (d, >= b): -2 times their coordinates,
    transposed so that every loop runs along points (AVX-512 lanes) with the centroid held fixed.

    Args:
        centroids: float32 (k, d); c_norm: float32 (k,) their squared norms.
        acc: float32 (>= b,) scratch. best: float32 (>= b,) out, ``||c||^2 - 2 x.c`` of the nearest.
        lab: int32 (>= b,) out, the nearest centroid (the first of ties).
    """
    d = xt.shape[0]
    best[:b] = np.inf
    lab[:b] = 0
    for c in range(centroids.shape[0]):
        cn = c_norm[c]
        if d == 2:  # PQ's usual subspace: one fused pass
            w0, w1 = centroids[c, 0], centroids[c, 1]
            for i in range(b):
                _keep_better(cn + xt[0, i] * w0 + xt[1, i] * w1, c, i, best, lab)
            continue
        w = centroids[c, 0]
        for i in range(b):
            acc[i] = cn + xt[0, i] * w
        for t in range(1, d):
            w = centroids[c, t]
            for i in range(b):
                acc[i] += xt[t, i] * w
        for i in range(b):
            _keep_better(acc[i], c, i, best, lab)


@njit(nogil=True, cache=True, fastmath=True)
def _assign_small(x, centroids, c_norm, labels, dists):
    """Fill labels (n,) and dists (n,) for points x (n, d), centroids (k, d), norms (k,), ROW_BLOCK rows at a time."""
    n, d = x.shape
    xt = np.empty((d, ROW_BLOCK), dtype=np.float32)
    acc = np.empty(ROW_BLOCK, dtype=np.float32)
    best = np.empty(ROW_BLOCK, dtype=np.float32)
    lab = np.empty(ROW_BLOCK, dtype=np.int32)
    for start in range(0, n, ROW_BLOCK):
        b = min(ROW_BLOCK, n - start)
        for i in range(b):
            for t in range(d):
                xt[t, i] = np.float32(-2.0) * x[start + i, t]
        nearest_block(xt, b, centroids, c_norm, acc, best, lab)
        _finish(x, start, b, best, lab, labels, dists)


@njit(nogil=True, cache=True)
def _centroid_sums(x, labels, k):
    """Per-cluster sums float64 (k, d) and counts int64 (k,) of float32 rows ``x`` (n, d)."""
    sums = np.zeros((k, x.shape[1]), dtype=np.float64)
    counts = np.zeros(k, dtype=np.int64)
    for i in range(x.shape[0]):
        c = labels[i]
        counts[c] += 1
        for j in range(x.shape[1]):
            sums[c, j] += x[i, j]
    return sums, counts


def kmeans(
    x: np.ndarray, k: int, *, niter: int = 20, seed: int = 1234, max_points_per_centroid: int = MAX_POINTS_PER_CENTROID
) -> np.ndarray:
    """Cluster float32 (n, d) points into ``k`` centroids.

    Args:
        x: float32 (n, d) training points, n >= k.
        k: number of centroids.
        niter: Lloyd iterations.
        seed: seed of the initial sample and of subsampling.
        max_points_per_centroid: at most ``k * max_points_per_centroid`` points are used.
    Returns:
        float32 (k, d) centroids.
    """
    rng = np.random.default_rng(seed)
    x = sample_rows(x, k * max_points_per_centroid, rng)
    n = x.shape[0]
    centroids = x[rng.choice(n, k, replace=False)].copy()
    for _ in range(niter):
        labels, _dists = assign(x, centroids)
        sums, counts = _centroid_sums(x, labels, k)
        nonempty = counts > 0
        centroids[nonempty] = (sums[nonempty] / counts[nonempty, None]).astype(np.float32)
        _split_empty(centroids, counts, rng)
    return centroids


def sample_rows(x: np.ndarray, limit: int, rng: np.random.Generator) -> np.ndarray:
    """float32 (min(n, limit), d) C-contiguous rows of ``x`` (n, d): all of them, or a sorted random
    sample of ``limit``. No copy when ``x`` is float32, C-contiguous and small enough."""
    if x.shape[0] > limit:
        x = x[np.sort(rng.choice(x.shape[0], limit, replace=False))]
    return np.ascontiguousarray(x, dtype=np.float32)


def _split_empty(centroids: np.ndarray, counts: np.ndarray, rng: np.random.Generator) -> None:
    """Re-seed empty clusters next to the largest ones (symmetric small perturbation)."""
    for empty in np.flatnonzero(counts == 0):
        big = int(np.argmax(counts))
        eps = 1e-4 * (np.abs(centroids[big]).mean() + 1e-6)
        noise = rng.standard_normal(centroids.shape[1]).astype(np.float32) * eps
        centroids[empty] = centroids[big] + noise
        centroids[big] = centroids[big] - noise
        counts[empty] = counts[big] // 2
        counts[big] -= counts[empty]
