"""Lloyd's k-means, used for PQ codebooks and the IVF coarse quantizer.

Assignment ranks centroids by ``||c||^2 - 2 x.c``: for ``d >= 16`` the dot
products are a BLAS matrix product over blocks of rows (as FAISS does; about
twice the speed of a loop at 96-d and 4096 centroids), and for the few
dimensions of a PQ subspace a numba loop that never writes the (n, k) products.
The centroid update is a numba loop. Empty clusters are re-seeded by splitting
the largest cluster, as FAISS does, so every centroid stays useful.
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
    c_t = np.ascontiguousarray(centroids.T)  # (d, k): the inner loop runs over centroids
    c_norm = np.einsum("ij,ij->i", centroids, centroids).astype(np.float32)
    labels = np.empty(x.shape[0], dtype=np.int64)
    dists = np.empty(x.shape[0], dtype=np.float32)
    if x.shape[1] < _BLAS_MIN_DIM:
        _assign(x, c_t, c_norm, labels, dists)
        return labels, dists
    block = max(1, _BLOCK_PRODUCTS // c_t.shape[1])
    dots = np.empty((min(block, x.shape[0]), c_t.shape[1]), dtype=np.float32)  # (rows, k) scratch
    for start in range(0, x.shape[0], block):
        rows = x[start : start + block]
        out = dots[: rows.shape[0]]
        np.matmul(rows, c_t, out=out)
        _pick(rows, out, c_norm, labels[start : start + block], dists[start : start + block])
    return labels, dists


@njit(nogil=True, cache=True, fastmath=True)
def _pick(x, dots, c_norm, labels, dists):
    """Fill labels (n,) and dists (n,) from points x (n, d) and their dot products (n, k) with the centroids."""
    for i in range(x.shape[0]):
        x_norm = np.float32(0.0)
        for t in range(x.shape[1]):
            x_norm += x[i, t] * x[i, t]
        best = 0
        best_val = c_norm[0] - np.float32(2.0) * dots[i, 0]
        for c in range(1, dots.shape[1]):
            val = c_norm[c] - np.float32(2.0) * dots[i, c]
            if val < best_val:
                best, best_val = c, val
        labels[i] = best
        dists[i] = max(best_val + x_norm, np.float32(0.0))


@njit(nogil=True, cache=True, fastmath=True)
def _assign(x, c_t, c_norm, labels, dists):
    """Fill labels (n,) and dists (n,) for points x (n, d), centroids c_t (d, k), norms (k,)."""
    d, k = c_t.shape
    acc = np.empty(k, dtype=np.float32)
    for i in range(x.shape[0]):
        acc[:] = c_norm
        x_norm = np.float32(0.0)
        for t in range(d):
            v = x[i, t]
            x_norm += v * v
            w = np.float32(-2.0) * v
            for c in range(k):
                acc[c] += w * c_t[t, c]
        best = 0
        for c in range(1, k):
            if acc[c] < acc[best]:
                best = c
        labels[i] = best
        dists[i] = max(acc[best] + x_norm, np.float32(0.0))


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
