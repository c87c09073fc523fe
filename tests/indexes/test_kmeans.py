"""The vectorised nearest-centroid kernels: k-means assignment and PQ encoding against numpy brute force."""

from __future__ import annotations

import numpy as np
import pytest

from indexes.kmeans import ROW_BLOCK, assign
from indexes.quantizer import ProductQuantizer, encode_rows


def brute_force(x: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels int64 (n,) and squared distances float64 (n,) of the nearest row of c, in float64."""
    full = ((x[:, None, :].astype(np.float64) - c[None]) ** 2).sum(-1)
    return full.argmin(1), full.min(1)


@pytest.mark.parametrize("dim", [1, 2, 3, 8])
def test_small_dim_assignment_matches_brute_force_across_blocks(dim):
    """Below 16 dimensions points are assigned ROW_BLOCK at a time; n leaves a partial last block."""
    rng = np.random.default_rng(dim)
    n = 2 * ROW_BLOCK + 37
    x = rng.normal(size=(n, dim)).astype(np.float32)
    c = rng.normal(size=(50, dim)).astype(np.float32)
    labels, dists = assign(x, c)
    want_labels, want_dists = brute_force(x, c)
    np.testing.assert_array_equal(labels, want_labels)
    np.testing.assert_allclose(dists, want_dists, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dim", [2, 24])
def test_assignment_breaks_ties_towards_the_first_centroid(dim):
    """Duplicate centroids tie exactly: every point goes to the lower index, as argmin does."""
    rng = np.random.default_rng(7)
    c = rng.normal(size=(6, dim)).astype(np.float32)
    c = np.concatenate([c, c])  # centroid i + 6 duplicates centroid i
    x = (c[rng.integers(0, 12, 300)] + rng.normal(size=(300, dim)) * 0.1).astype(np.float32)
    labels, _ = assign(x, c)
    assert labels.max() < 6
    np.testing.assert_array_equal(labels, brute_force(x, c[:6])[0])


@pytest.mark.parametrize("dim,m", [(16, 8), (16, 4), (12, 12)])
def test_encoding_picks_the_nearest_codeword_of_every_subspace(dim, m):
    rng = np.random.default_rng(m)
    x = rng.normal(size=(ROW_BLOCK + 71, dim)).astype(np.float32)
    pq = ProductQuantizer(dim, m, 5)
    pq.train(x, niter=4)
    codes = pq.encode(x)
    dsub = dim // m
    for j in range(m):
        want, _ = brute_force(x[:, j * dsub : (j + 1) * dsub], pq.codebooks[j])
        np.testing.assert_array_equal(codes[:, j], want)


def test_residual_encoding_equals_encoding_the_residuals():
    """The kernel subtracts each row's centroid itself: the codes are those of the explicit residuals."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(700, 16)).astype(np.float32)
    centroids = rng.normal(size=(5, 16)).astype(np.float32)
    labels = rng.integers(0, 5, 700)
    pq = ProductQuantizer(16, 8, 6)
    pq.train(x - centroids[labels], niter=4)
    codes = np.empty((700, 8), dtype=np.uint8)
    encode_rows(x, centroids, labels, pq.codebooks, pq.book_norms, codes)
    np.testing.assert_array_equal(codes, pq.encode(x - centroids[labels]))
    np.testing.assert_array_equal(pq.encode_residuals(x, centroids, labels), codes)
