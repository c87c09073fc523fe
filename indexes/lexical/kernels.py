"""Numba kernels of the BM25 index: building postings, merging them, scoring them.

A segment's postings are CSR over the terms it holds: ``terms`` int32 (U,)
sorted term ids, ``indptr`` int64 (U + 1,), then per posting a row int32 (the
document's position in its segment) and a term frequency float32. Within one
term the rows are increasing. Sizes follow the segment, not the vocabulary. Every kernel is ``nogil`` so
that searches issued from several Python threads run in parallel.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(nogil=True, cache=True)
def count_postings(tokens, doc_starts, n_terms):
    """Term frequencies of each document, one posting per distinct (document, term).

    Args:
        tokens: int32 (T,) term ids of all documents, concatenated.
        doc_starts: int64 (n + 1,) where each document's tokens start in ``tokens``.
        n_terms: size of the term-id space (every token is below it).
    Returns:
        terms int32 (P,), rows int32 (P,), tf float32 (P,), in document order.
    """
    n = doc_starts.shape[0] - 1
    last = np.full(n_terms, -1, dtype=np.int64)  # (n_terms,) the posting a term last went to
    p_term = np.empty(tokens.shape[0], dtype=np.int32)
    p_row = np.empty(tokens.shape[0], dtype=np.int32)
    p_tf = np.empty(tokens.shape[0], dtype=np.float32)
    p = 0
    for d in range(n):
        first = p  # postings of document d start here; older positions in ``last`` are stale
        for j in range(doc_starts[d], doc_starts[d + 1]):
            t = tokens[j]
            q = last[t]
            if q >= first:
                p_tf[q] += 1.0
            else:
                last[t] = p
                p_term[p] = t
                p_row[p] = d
                p_tf[p] = 1.0
                p += 1
    return p_term[:p], p_row[:p], p_tf[:p]


@njit(nogil=True, cache=True)
def csr_by_term(terms, rows, tf, n_terms):
    """Stable counting sort of postings by term: rows keep their input order within a term.

    Args:
        terms: int32 (P,), rows: int32 (P,), tf: float32 (P,) postings.
        n_terms: size of the term-id space.
    Returns:
        terms int32 (U,) the distinct term ids, sorted; indptr int64 (U + 1,);
        rows int32 (P,); tf float32 (P,).
    """
    counts = np.zeros(n_terms, dtype=np.int64)
    for i in range(terms.shape[0]):
        counts[terms[i]] += 1
    u = 0
    for t in range(n_terms):
        if counts[t]:
            u += 1
    held = np.empty(u, dtype=np.int32)
    indptr = np.zeros(u + 1, dtype=np.int64)
    fill = np.full(n_terms, -1, dtype=np.int64)  # (n_terms,) next free slot of each term
    u = 0
    for t in range(n_terms):
        if counts[t]:
            held[u] = t
            fill[t] = indptr[u]
            indptr[u + 1] = indptr[u] + counts[t]
            u += 1
    out_rows = np.empty(rows.shape[0], dtype=np.int32)
    out_tf = np.empty(rows.shape[0], dtype=np.float32)
    for i in range(terms.shape[0]):
        t = terms[i]
        out_rows[fill[t]] = rows[i]
        out_tf[fill[t]] = tf[i]
        fill[t] += 1
    return held, indptr, out_rows, out_tf


@njit(nogil=True, cache=True)
def postings_to_coo(terms, indptr, rows, tf, new_row):
    """The kept postings of one segment as (term, row) pairs in the numbering of a merged segment.

    Args:
        terms: int32 (U,), indptr: int64 (U + 1,), rows: int32 (P,), tf: float32 (P,) the postings.
        new_row: int64 (n,) each row's row in the merged segment, -1 when dropped.
    Returns:
        terms int32 (P',), rows int32 (P',), tf float32 (P',), grouped by term.
    """
    out_t = np.empty(rows.shape[0], dtype=np.int32)
    out_r = np.empty(rows.shape[0], dtype=np.int32)
    out_f = np.empty(rows.shape[0], dtype=np.float32)
    p = 0
    for u in range(terms.shape[0]):
        for j in range(indptr[u], indptr[u + 1]):
            r = new_row[rows[j]]
            if r >= 0:
                out_t[p] = terms[u]
                out_r[p] = r
                out_f[p] = tf[j]
                p += 1
    return out_t[:p], out_r[:p], out_f[:p]


@njit(nogil=True, cache=True)
def score_postings(term_ids, weights, terms, indptr, rows, tf, norm, acc, base):
    """Add the BM25 contribution of each query term to a dense accumulator.

    For a posting of term t in document d the contribution is
    ``weights[i] * tf / (tf + norm[d])`` with ``weights[i] = idf(t) * (k1 + 1)``
    and ``norm[d] = k1 * (1 - b + b * dl[d] / avgdl)``.

    Args:
        term_ids: int64 (m,) query term ids (repeats count once per occurrence).
        weights: float64 (m,) idf * (k1 + 1) of each query term.
        terms: int32 (U,), indptr: int64 (U + 1,), rows: int32 (P,), tf: float32 (P,) one segment's postings.
        norm: float32 (n_s,) per-document length normalisation of the segment.
        acc: float32 (N,) scores of all rows of all segments, updated in place.
        base: the segment's first row in ``acc``.
    """
    for i in range(term_ids.shape[0]):
        t = term_ids[i]
        u = np.searchsorted(terms, t)
        if u >= terms.shape[0] or terms[u] != t:
            continue
        w = weights[i]
        for j in range(indptr[u], indptr[u + 1]):
            f = tf[j]
            r = rows[j]
            acc[base + r] += np.float32(w * f / (f + norm[r]))
