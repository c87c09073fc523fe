"""Numba kernel of HNSW queries: greedy descent through the upper levels, then ``ef`` search on level 0."""

from __future__ import annotations

import numpy as np
from numba import njit

from indexes.hnsw.graph import drain_sorted, greedy, next_epoch, search_layer, search_layer_sorted
from indexes.kernels import distance


@njit(nogil=True, cache=True)
def hnsw_search(
    q,
    k,
    ef,
    x,
    links0,
    deg0,
    up_off,
    links_up,
    deg_up,
    entry,
    top_level,
    metric,
    mask,
    visited,
    epoch,
    out_rows,
    out_dist,
):
    """k nearest allowed rows of each query.

    Args:
        q: float32 (nq, d) queries; x: float32 (rows, d) stored vectors.
        k: results per query; ef: size of the dynamic candidate list (raised to k).
        links0, deg0, up_off, links_up, deg_up: the graph (see :mod:`indexes.hnsw.graph`).
        entry, top_level: entry-point row and its level.
        metric: kernel metric; mask: bool (rows,) allowed rows, or empty for all.
        visited: uint8 (>= rows,) epoch marks, reused across calls; epoch: the last epoch used in it.
        out_rows: int64 (nq, k), out_dist: float32 (nq, k) outputs, best first.
    Returns:
        the last epoch used, to pass in with ``visited`` next time.
    """
    ef = max(ef, k)
    filtered = mask.shape[0] > 0
    found_rows = np.empty(ef + 1, dtype=np.int64)
    found_dist = np.empty(ef + 1, dtype=np.float32)
    expanded = np.empty(ef + 1, dtype=np.bool_)
    fresh = np.empty(links0.shape[1], dtype=np.int64)
    fresh_d = np.empty(links0.shape[1], dtype=np.float32)
    cand_k = np.empty(max(4 * ef, 64), dtype=np.float32)
    cand_v = np.empty(max(4 * ef, 64), dtype=np.int64)
    res_k = np.empty(ef + 1, dtype=np.float32)
    res_v = np.empty(ef + 1, dtype=np.int64)
    for qi in range(q.shape[0]):
        qv = q[qi]
        epoch = next_epoch(visited, epoch)
        cur, dcur = greedy(
            qv, entry, distance(x, entry, qv, metric), top_level, 0, x, links0, deg0, up_off, links_up, deg_up, metric
        )
        if filtered:
            # Heaps let the walk continue until ef *allowed* nodes are found.
            n_res, cand_k, cand_v = search_layer(
                qv,
                cur,
                dcur,
                0,
                ef,
                x,
                links0,
                deg0,
                up_off,
                links_up,
                deg_up,
                metric,
                mask,
                visited,
                epoch,
                cand_k,
                cand_v,
                res_k,
                res_v,
            )
            count = drain_sorted(res_k, res_v, n_res, found_rows, found_dist)
        else:
            count = search_layer_sorted(
                qv,
                cur,
                dcur,
                0,
                ef,
                x,
                links0,
                deg0,
                up_off,
                links_up,
                deg_up,
                metric,
                visited,
                epoch,
                found_dist,
                found_rows,
                expanded,
                fresh,
                fresh_d,
            )
        for j in range(k):
            if j < count:
                out_rows[qi, j] = found_rows[j]
                out_dist[qi, j] = found_dist[j]
            else:
                out_rows[qi, j] = -1
                out_dist[qi, j] = np.inf
    return epoch
