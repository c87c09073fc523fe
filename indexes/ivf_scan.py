"""Numba kernels of IVF-PQ: inverted-list scans with one lookup table per query.

Rows are stored grouped by inverted list: list ``l`` owns rows
``offsets[l]:offsets[l + 1]``. A row's code quantizes its residual ``x - c_l``
into codewords ``b_j``, so its reconstruction is ``x' = c_l + b``. Every
distance splits into a per-list term (from the coarse step), a per-query table
summed over the code, and a per-row term that depends on neither the query nor
the probe (FAISS precomputes the same split per list and codeword instead):

* ``L2``:  ``||q - x'||^2 = ||q - c_l||^2 + sum_j -2<q_j, b_j> + e_row``
  with ``e_row = ||b||^2 + 2<c_l, b>``;
* ``IP``:  ``-<q, x'> = -<q, c_l> + sum_j -<q_j, b_j>`` (no row term);
* ``COS`` (cosine indexes): ``-<q, x'> / ||x'||``, the cosine between the query
  and the reconstruction, with row term ``1 / ||x'||`` and
  ``||x'||^2 = ||c_l||^2 + e_row``. The stored vectors had unit norm, so the
  norm error of the reconstruction is noise; dividing it out ranks better than
  the L2 distance does, without adding a byte per vector.

Row terms are computed per list on first use (:func:`fill_row_terms`) and kept
in memory only.
"""

from __future__ import annotations

import threading

import numpy as np
from numba import njit

from indexes.kernels import COS, IP, L2, topk_push, topk_worst, topk_write
from indexes.quantizer import code_sum


class RowTerms:
    """The lazily filled row terms of one IVF-PQ index: float32 per row, in memory only.

    Zero-filled pages cost no RAM until a list is first probed; filling takes a
    lock, so concurrent searches in threads never read a half-filled list.
    """

    def __init__(self, n_rows: int, nlist: int, metric: int) -> None:
        self.metric = metric
        self.values = np.zeros(n_rows, dtype=np.float32)
        self.ready = np.zeros(nlist, dtype=bool)
        self._lock = threading.Lock()

    def ensure(self, lists: np.ndarray, centroids, books_t, book_norms, codes, offsets) -> np.ndarray:
        """Fill the terms of ``lists`` (any shape of int64 list ids) if missing; return the terms array."""
        if self.metric == IP:
            return self.values
        need = np.unique(lists)
        need = need[~self.ready[need]]
        if need.size:
            with self._lock:
                need = need[~self.ready[need]]
                fill_row_terms(need, centroids, books_t, book_norms, codes, offsets, self.metric, self.values)
                self.ready[need] = True
        return self.values


def merge_rows(old: np.ndarray, new: np.ndarray, order: np.ndarray) -> np.ndarray:
    """``np.concatenate([old, new])[order]``, the rows regrouped by list after an add, written straight
    into one new array (no concatenated copy of the index)."""
    out = np.empty((old.shape[0] + new.shape[0], *old.shape[1:]), dtype=old.dtype)
    where = np.empty_like(order)
    where[order] = np.arange(order.shape[0])  # where each row of old, then new, lands
    out[where[: old.shape[0]]] = old
    out[where[old.shape[0] :]] = new
    return out


@njit(nogil=True, cache=True, fastmath=True)
def _norm_table(centroid, books_t, book_norms, out):
    """Fill ``out`` (m, ksub) with ``||b||^2 + 2<c_j, b>`` per codeword; return ``||c||^2``."""
    m, dsub, ksub = books_t.shape
    for j in range(m):
        for c in range(ksub):
            out[j, c] = book_norms[j, c]
        for t in range(dsub):
            w = 2.0 * centroid[j * dsub + t]
            for c in range(ksub):
                out[j, c] += w * books_t[j, t, c]
    c_norm = np.float32(0.0)
    for i in range(centroid.shape[0]):
        c_norm += centroid[i] * centroid[i]
    return c_norm


@njit(nogil=True, cache=True)
def fill_row_terms(lists, centroids, books_t, book_norms, codes, offsets, metric, row_terms):
    """Compute the row terms (see the module docstring) of every row of ``lists``.

    Args:
        lists: int64 (c,) lists to fill.
        centroids: float32 (nlist, d); books_t: float32 (m, dsub, ksub) transposed
            codebooks; book_norms: float32 (m, ksub) codeword squared norms.
        codes: uint8 (n, m); offsets: int64 (nlist + 1,).
        metric: ``L2`` or ``COS``.
        row_terms: float32 (n,) output.
    """
    m, _dsub, ksub = books_t.shape
    table = np.empty((m, ksub), dtype=np.float32)
    for i in range(lists.shape[0]):
        lst = lists[i]
        c_norm = _norm_table(centroids[lst], books_t, book_norms, table)
        for r in range(offsets[lst], offsets[lst + 1]):
            e = code_sum(codes, r, table)
            row_terms[r] = e if metric == L2 else 1.0 / np.sqrt(max(c_norm + e, np.float32(1e-12)))


@njit(nogil=True, cache=True)
def _row_distance(codes, r, table, base, row_terms, metric):
    s = base + code_sum(codes, r, table)
    if metric == L2:
        return s + row_terms[r]
    if metric == COS:
        return s * row_terms[r]
    return s


@njit(nogil=True, cache=True)
def ivfpq_search(tables, coarse, probes, codes, offsets, row_terms, k, metric, mask, out_rows, out_dist):
    """Scan the probed lists of every query.

    Args:
        tables: float32 (nq, m, ksub) per-query tables.
        coarse: float32 (nq, nprobe) per-list terms of the probed lists.
        probes: int64 (nq, nprobe) lists to scan per query.
        codes: uint8 (n, m) codes grouped by list; offsets: int64 (nlist + 1,).
        row_terms: float32 (n,) filled for every probed list.
        k: candidates kept per query; metric: ``L2``, ``IP`` or ``COS``.
        mask: bool (n,) allowed rows, or empty for all.
        out_rows: int64 (nq, k), out_dist: float32 (nq, k) outputs, best first.
    """
    neg = np.empty(k, dtype=np.float32)
    vals = np.empty(k, dtype=np.int64)
    has_mask = mask.shape[0] > 0
    for qi in range(tables.shape[0]):
        table = tables[qi]
        size = 0
        for p in range(probes.shape[1]):
            lst = probes[qi, p]
            base = coarse[qi, p]
            for r in range(offsets[lst], offsets[lst + 1]):
                if has_mask and not mask[r]:
                    continue
                d = _row_distance(codes, r, table, base, row_terms, metric)
                if d < topk_worst(neg, size, k):
                    size = topk_push(neg, vals, size, k, d, r)
        topk_write(neg, vals, size, out_rows[qi], out_dist[qi])


@njit(nogil=True, cache=True)
def ivfpq_scan_rows(tables, coarse, rows, row_lists, codes, row_terms, k, metric, out_rows, out_dist):
    """ADC top-k over an explicit set of rows (the exact path for narrow filters).

    Args:
        coarse: float32 (nq, nlist) per-list terms of every list.
        rows: int64 (c,) rows to scan; row_lists: int64 (c,) the list of each.
        Other arguments as in :func:`ivfpq_search`.
    """
    neg = np.empty(k, dtype=np.float32)
    vals = np.empty(k, dtype=np.int64)
    for qi in range(tables.shape[0]):
        size = 0
        for i in range(rows.shape[0]):
            d = _row_distance(codes, rows[i], tables[qi], coarse[qi, row_lists[i]], row_terms, metric)
            size = topk_push(neg, vals, size, k, d, rows[i])
        topk_write(neg, vals, size, out_rows[qi], out_dist[qi])
