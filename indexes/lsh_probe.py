"""Numba kernels of LSH: Hamming distances and query-directed multi-probe.

Signatures are ``nbits`` sign bits of random projections packed into uint64
words (bit ``j`` is bit ``j % 64`` of word ``j // 64``). Table ``t`` hashes a
vector by the ``key_bits`` signature bits starting at ``t * key_bits``.

Multi-probe follows Lv et al. (VLDB 2007): a bit whose projection lies close to
its hyperplane is the likeliest to differ for a near neighbour, so buckets are
probed in increasing order of the summed ``|projection|`` of the flipped bits.
The perturbation sets are enumerated lazily with a heap ("shift" and
"expand" moves over the bits sorted by margin).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from indexes.kernels import heap_pop, heap_push, rescore

_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_H01 = np.uint64(0x0101010101010101)


@njit(nogil=True, cache=True)
def popcount(v):
    """Set bits of a uint64 (LLVM turns this bit-twiddling into one popcnt)."""
    v = v - ((v >> np.uint64(1)) & _M1)
    v = (v & _M2) + ((v >> np.uint64(2)) & _M2)
    v = (v + (v >> np.uint64(4))) & _M4
    return (v * _H01) >> np.uint64(56)


@njit(nogil=True, cache=True)
def _probe_order(proj, t, key_bits, probes, flips, heap_keys, heap_vals):
    """Fill ``flips[:count]`` with the XOR masks of the ``probes`` best buckets of table ``t``.

    Args:
        proj: float32 (nbits,) projections of the query.
        flips: int64 (probes,) output masks; the first one is 0 (the query's own bucket).
    Returns:
        how many masks were written (fewer than ``probes`` when the table has few bits).
    """
    margins = np.abs(proj[t * key_bits : (t + 1) * key_bits])
    order = np.argsort(margins)  # bit positions, closest to their hyperplane first
    flips[0] = 0
    count = 1
    size = heap_push(heap_keys, heap_vals, 0, margins[order[0]], np.int64(1))
    while count < probes and size > 0:
        score, subset = heap_keys[0], heap_vals[0]  # subset: bitmask over sorted positions
        size = heap_pop(heap_keys, heap_vals, size)
        mask = np.int64(0)
        top = 0
        for pos in range(key_bits):
            if subset >> pos & 1:
                mask |= np.int64(1) << order[pos]
                top = pos
        flips[count] = mask
        count += 1
        if top + 1 < key_bits:
            nxt = margins[order[top + 1]]
            shifted = (subset ^ (np.int64(1) << top)) | (np.int64(1) << (top + 1))
            size = heap_push(heap_keys, heap_vals, size, score - margins[order[top]] + nxt, shifted)
            size = heap_push(heap_keys, heap_vals, size, score + nxt, subset | (np.int64(1) << (top + 1)))
    return count


@njit(nogil=True, cache=True)
def lsh_search(
    q, proj, qsig, sigs, x, table_rows, table_offsets, key_bits, probes, candidates, k, metric, mask, out_rows, out_dist
):
    """Multi-probe LSH search with Hamming ranking and exact re-scoring.

    Args:
        q: float32 (nq, d) queries; proj: float32 (nq, nbits) their projections;
            qsig: uint64 (nq, words) their signatures.
        sigs: uint64 (n, words) stored signatures; x: float32 (n, d) stored vectors.
        table_rows: int32 (tables, n) rows sorted by bucket key, per table.
        table_offsets: int32 (tables, 2**key_bits + 1) bucket boundaries.
        probes: buckets probed per table; 0 ranks every row (exhaustive Hamming scan).
        candidates: rows (best by Hamming distance) re-scored exactly.
        k: results per query; metric: kernel metric of the re-scoring.
        mask: bool (n,) allowed rows, or empty for all.
        out_rows: int64 (nq, k), out_dist: float32 (nq, k) outputs.
    """
    n = sigs.shape[0]
    words = sigs.shape[1]
    n_tables = table_rows.shape[0]
    nbits_max = words * 64
    has_mask = mask.shape[0] > 0
    visited = np.zeros(n, dtype=np.int32)
    pool = np.empty(n, dtype=np.int64)
    ham = np.empty(n, dtype=np.int32)
    hist = np.zeros(nbits_max + 2, dtype=np.int64)
    flips = np.empty(max(probes, 1), dtype=np.int64)
    heap_keys = np.empty(2 * max(probes, 1) + 2, dtype=np.float32)
    heap_vals = np.empty(2 * max(probes, 1) + 2, dtype=np.int64)
    chosen = np.empty((1, max(candidates, k)), dtype=np.int64)
    for qi in range(q.shape[0]):
        epoch = qi + 1
        size = 0
        if probes == 0:
            for r in range(n):
                if not has_mask or mask[r]:
                    pool[size] = r
                    size += 1
        else:
            for t in range(n_tables):
                key = 0
                for b in range(key_bits):
                    if proj[qi, t * key_bits + b] > 0:
                        key |= 1 << b
                count = _probe_order(proj[qi], t, key_bits, probes, flips, heap_keys, heap_vals)
                for p in range(count):
                    bucket = key ^ flips[p]
                    for i in range(table_offsets[t, bucket], table_offsets[t, bucket + 1]):
                        r = table_rows[t, i]
                        if visited[r] != epoch:
                            visited[r] = epoch
                            if not has_mask or mask[r]:
                                pool[size] = r
                                size += 1
        # Keep the ``candidates`` pool rows closest in Hamming distance (counting selection).
        hist[:] = 0
        for i in range(size):
            h = 0
            for w in range(words):
                h += np.int64(popcount(sigs[pool[i], w] ^ qsig[qi, w]))
            ham[i] = h
            hist[h] += 1
        limit = max(candidates, k)
        cut, total = 0, 0
        while cut <= nbits_max and total + hist[cut] <= limit:
            total += hist[cut]
            cut += 1
        taken = 0
        spare = limit - total  # rows allowed at exactly Hamming distance ``cut``
        for i in range(size):
            if ham[i] < cut or (ham[i] == cut and spare > 0):
                if ham[i] == cut:
                    spare -= 1
                chosen[0, taken] = pool[i]
                taken += 1
        for i in range(taken, chosen.shape[1]):
            chosen[0, i] = -1
        rescore(q[qi : qi + 1], x, chosen, k, metric, out_rows[qi : qi + 1], out_dist[qi : qi + 1])
