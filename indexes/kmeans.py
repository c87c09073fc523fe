"""Lloyd's k-means, used for PQ codebooks and the IVF coarse quantizer.

Assignment is a BLAS matrix product (``||x||^2 - 2 x.c + ||c||^2``) in blocks;
the centroid update is a numba loop. Empty clusters are re-seeded by splitting
the largest cluster, as FAISS does, so every centroid stays useful.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Points per centroid a k-means needs and uses (FAISS's Clustering bounds): under the first
# the centroids are poor (FAISS warns), past the second a fixed-seed sample is drawn.
MIN_POINTS_PER_CENTROID = 39
MAX_POINTS_PER_CENTROID = 256


def assign(x: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid (squared L2) of every row.

    Args:
        x: float32 (n, d) points.
        centroids: float32 (k, d).
    Returns:
        labels int64 (n,), squared distances float32 (n,).
    """
    centroids = np.ascontiguousarray(centroids, dtype=np.float32)
    c_t = np.ascontiguousarray(centroids.T)  # (d, k): the inner loop runs over centroids
    c_norm = np.einsum("ij,ij->i", centroids, centroids).astype(np.float32)
    labels = np.empty(x.shape[0], dtype=np.int64)
    dists = np.empty(x.shape[0], dtype=np.float32)
    _assign(np.ascontiguousarray(x, dtype=np.float32), c_t, c_norm, labels, dists)
    return labels, dists


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
    n = x.shape[0]
    if n > k * max_points_per_centroid:
        x = x[np.sort(rng.choice(n, k * max_points_per_centroid, replace=False))]
        n = x.shape[0]
    x = np.ascontiguousarray(x, dtype=np.float32)
    centroids = x[rng.choice(n, k, replace=False)].copy()
    for _ in range(niter):
        labels, _dists = assign(x, centroids)
        sums, counts = _centroid_sums(x, labels, k)
        nonempty = counts > 0
        centroids[nonempty] = (sums[nonempty] / counts[nonempty, None]).astype(np.float32)
        _split_empty(centroids, counts, rng)
    return centroids


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
