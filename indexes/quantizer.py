"""Product quantizer (Jégou, Douze & Schmid 2011) and its ADC kernels.

A vector of ``dim`` floats is split into ``m`` sub-vectors of ``dsub = dim / m``
floats; each is replaced by the index of its nearest codeword in a per-subspace
codebook of ``ksub = 2 ** nbits`` entries, so a vector costs ``m`` bytes.

Asymmetric distance computation (ADC): the query stays exact; for each query a
lookup table ``(m, ksub)`` holds the distance contribution of every codeword,
and a code's distance is the sum of ``m`` table entries.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from core.errors import ConfigError
from indexes.kernels import L2, topk_push, topk_worst, topk_write
from indexes.kmeans import MAX_POINTS_PER_CENTROID, ROW_BLOCK, kmeans, nearest_block, sample_rows

# Rows :meth:`ProductQuantizer.encode_residuals` hands the kernel at a time (bounds the float32 copy
# of an input that is not already C-contiguous float32; the kernel itself needs no scratch per row).
ENCODE_BLOCK = 65536
_NO_LABELS = np.zeros(0, dtype=np.int64)


class ProductQuantizer:
    """Codebooks float32 (m, ksub, dsub) learned by k-means in each subspace."""

    def __init__(self, dim: int, m: int, nbits: int) -> None:
        self.dim, self.m, self.nbits = dim, m, nbits
        self.dsub = dim // m
        self.ksub = 1 << nbits
        self.codebooks: np.ndarray | None = None  # (m, ksub, dsub)
        self.books_t: np.ndarray | None = None  # (m, dsub, ksub): kernels loop over codewords innermost
        self.book_norms: np.ndarray | None = None  # (m, ksub) squared codeword norms

    def set_codebooks(self, codebooks: np.ndarray) -> None:
        """Install float32 (m, ksub, dsub) codebooks (trained or loaded) and their derived tables."""
        self.codebooks = codebooks
        self.books_t = np.ascontiguousarray(np.transpose(codebooks, (0, 2, 1)), dtype=np.float32)
        self.book_norms = np.einsum("mkd,mkd->mk", codebooks, codebooks).astype(np.float32)

    @property
    def is_trained(self) -> bool:
        return self.codebooks is not None

    def check_dim(self) -> None:
        """Raise ConfigError unless m divides the dimension (checked when training starts)."""
        if self.dim % self.m:
            raise ConfigError(
                f"PQ{self.m}x{self.nbits} needs a dimension divisible by m={self.m}, but dim={self.dim}; "
                f"pick m among the divisors of {self.dim}"
            )

    def train(self, x: np.ndarray, *, niter: int = 25, seed: int = 1234) -> None:
        """Learn the codebooks from float32 (n, dim) vectors, n >= ksub.

        At most :meth:`sample_size` rows are used, one seeded sample for every
        subspace (as FAISS does), so a caller may pass just that many.
        """
        self.check_dim()
        if x.shape[0] < self.ksub:
            raise ConfigError(
                f"PQ with nbits={self.nbits} needs at least {self.ksub} training vectors, got {x.shape[0]}"
            )
        x = sample_rows(x, self.sample_size(), np.random.default_rng(seed))
        books = np.empty((self.m, self.ksub, self.dsub), dtype=np.float32)
        for j in range(self.m):
            sub = np.ascontiguousarray(x[:, j * self.dsub : (j + 1) * self.dsub])
            books[j] = kmeans(sub, self.ksub, niter=niter, seed=seed + j)
        self.set_codebooks(books)

    def sample_size(self) -> int:
        """Most training rows :meth:`train` uses (k-means' points-per-centroid bound)."""
        return self.ksub * MAX_POINTS_PER_CENTROID

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Codes uint8 (n, m) of float32 (n, dim) vectors (nearest codeword per subspace)."""
        codes = np.empty((x.shape[0], self.m), dtype=np.uint8)
        x = np.ascontiguousarray(x, dtype=np.float32)
        encode_rows(x, x[:0], _NO_LABELS, self.codebooks, self.book_norms, codes)
        return codes

    def encode_residuals(self, x: np.ndarray, centroids: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Codes uint8 (n, m) of the residuals ``x - centroids[labels]`` of float32 (n, dim) rows.

        The kernel makes the residuals of a few rows at a time, never all at once.
        """
        codes = np.empty((x.shape[0], self.m), dtype=np.uint8)
        centroids = np.ascontiguousarray(centroids, dtype=np.float32)
        labels = labels.astype(np.int64, copy=False)
        for start in range(0, x.shape[0], ENCODE_BLOCK):
            end = start + ENCODE_BLOCK
            rows = np.ascontiguousarray(x[start:end], dtype=np.float32)
            encode_rows(rows, centroids, labels[start:end], self.codebooks, self.book_norms, codes[start:end])
        return codes

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Reconstructed float32 (n, dim) vectors of uint8 (n, m) codes."""
        parts = [self.codebooks[j][codes[:, j]] for j in range(self.m)]
        return np.concatenate(parts, axis=1)

    def inner(self, q: np.ndarray) -> np.ndarray:
        """float32 (n, m, ksub) inner products ``<q_j, b_jc>`` of float32 (n, dim) queries with every codeword."""
        out = np.empty((q.shape[0], self.m, self.ksub), dtype=np.float32)
        inner_tables(np.ascontiguousarray(q, dtype=np.float32), self.books_t, out)
        return out

    def tables(self, q: np.ndarray, internal: int) -> np.ndarray:
        """ADC lookup tables float32 (n, m, ksub) of float32 (n, dim) queries.

        ``internal`` is the kernel metric: ``L2`` tables hold squared distances,
        ``IP`` and ``COS`` tables hold negated inner products (all "lower is better").
        """
        dots = self.inner(q)
        if internal != L2:
            return np.negative(dots, out=dots)
        qs = q.reshape(q.shape[0], self.m, self.dsub)
        q_norm = (qs * qs).sum(axis=2)  # (n, m)
        return (q_norm[:, :, None] - 2.0 * dots + self.book_norms[None]).astype(np.float32)


@njit(nogil=True, cache=True, fastmath=True)
def inner_tables(q, books_t, out):
    """``out[n, j, c] = <q[n, j-th subvector], codeword c of subspace j>``.

    Args:
        q: float32 (nq, d) queries; books_t: float32 (m, dsub, ksub); out: float32 (nq, m, ksub).
    """
    m, dsub, ksub = books_t.shape
    for n in range(q.shape[0]):
        for j in range(m):
            row = out[n, j]
            row[:] = 0.0
            for t in range(dsub):
                v = q[n, j * dsub + t]
                for c in range(ksub):
                    row[c] += v * books_t[j, t, c]


@njit(nogil=True, cache=True, fastmath=True)
def encode_rows(x, centroids, labels, books, book_norms, codes):
    """Nearest codeword per subspace of every row of x, or of its residual ``x - centroids[labels]``.

    Args:
        x: float32 (n, dim) rows.
        centroids: float32 (nlist, dim) coarse centroids; labels: int64 (n,) the list of each row,
            or empty to encode x itself.
        books: float32 (m, ksub, dsub) codebooks; book_norms: float32 (m, ksub) their squared norms.
        codes: uint8 (n, m) out.
    """
    m, ksub, dsub = books.shape
    residual = labels.shape[0] > 0
    xt = np.empty((dsub, ROW_BLOCK), dtype=np.float32)  # -2 x of a block, transposed: see nearest_block
    acc = np.empty(ROW_BLOCK, dtype=np.float32)
    best = np.empty(ROW_BLOCK, dtype=np.float32)
    lab = np.empty(ROW_BLOCK, dtype=np.int32)
    for start in range(0, x.shape[0], ROW_BLOCK):
        b = min(ROW_BLOCK, x.shape[0] - start)
        for j in range(m):
            for i in range(b):
                for t in range(dsub):
                    v = x[start + i, j * dsub + t]
                    if residual:
                        v -= centroids[labels[start + i], j * dsub + t]
                    xt[t, i] = np.float32(-2.0) * v
            nearest_block(xt, b, books[j], book_norms[j], acc, best, lab)
            for i in range(b):
                codes[start + i, j] = lab[i]


@njit(nogil=True, cache=True)
def code_sum(codes, r, table):
    """Sum of ``table[j, codes[r, j]]`` over subspaces j: the ADC distance of row ``r``.

    Compiled without fastmath on purpose: reassociation lets LLVM turn the
    lookups into AVX-512 gathers, which measured slower than scalar loads.
    """
    d = np.float32(0.0)
    for j in range(codes.shape[1]):
        d += table[j, codes[r, j]]
    return d


@njit(nogil=True, cache=True)
def inverse_norms(codes, norm_table, out):
    """``out[r] = 1 / ||x'_r||`` for every row, from ``norm_table`` (m, ksub) of codeword squared norms."""
    for r in range(codes.shape[0]):
        out[r] = 1.0 / np.sqrt(max(code_sum(codes, r, norm_table), np.float32(1e-12)))


@njit(nogil=True, cache=True)
def adc_scan(codes, tables, scale, rows, k, mask, out_rows, out_dist):
    """Top-k rows by ADC distance, for a batch of queries.

    Args:
        codes: uint8 (n, m) codes of all rows.
        tables: float32 (nq, m, ksub) lookup tables.
        scale: float32 (n,) per-row factor applied to the summed distance (the
            inverse reconstruction norm for the ``COS`` metric), or empty for none.
        rows: int64 (c,) rows to scan; empty means every row.
        k: results per query.
        mask: bool (n,) allowed rows, or empty for all.
        out_rows: int64 (nq, k) output rows, -1 padded.
        out_dist: float32 (nq, k) output distances, +inf padded.
    """
    use_rows = rows.shape[0] > 0
    scaled = scale.shape[0] > 0
    count = rows.shape[0] if use_rows else codes.shape[0]
    has_mask = mask.shape[0] > 0
    neg = np.empty(k, dtype=np.float32)
    vals = np.empty(k, dtype=np.int64)
    for qi in range(tables.shape[0]):
        t = tables[qi]
        size = 0
        for i in range(count):
            r = rows[i] if use_rows else i
            if has_mask and not mask[r]:
                continue
            d = code_sum(codes, r, t)
            if scaled:
                d *= scale[r]
            if d < topk_worst(neg, size, k):
                size = topk_push(neg, vals, size, k, d, r)
        topk_write(neg, vals, size, out_rows[qi], out_dist[qi])
