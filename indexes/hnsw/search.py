"""Numba kernel of HNSW queries: greedy descent through the upper levels, then ``ef`` search on level 0."""

from __future__ import annotations

import numpy as np
from numba import njit

from indexes.hnsw.graph import (
    drain_sorted,
    greedy,
    heap_buffers,
    next_epoch,
    search_layer,
    search_layer_sorted,
    sorted_buffers,
)


@njit(nogil=True, cache=True)
def hnsw_search(q, k, ef, graph, entry, top_level, metric, mask, visited, epoch, out_rows, out_dist):
    """k nearest allowed rows of each query.

    Args:
        q: float32 (nq, d) queries.
        k: results per query; ef: size of the dynamic candidate list (raised to k).
        graph: (x, links0, deg0, up_off, links_up, deg_up), see :mod:`indexes.hnsw.graph`.
        entry, top_level: entry-point row and its level.
        metric: kernel metric; mask: bool (rows,) allowed rows, or empty for all.
        visited: uint8 (>= rows,) epoch marks, reused across calls; epoch: the last epoch used in it.
        out_rows: int64 (nq, k), out_dist: float32 (nq, k) outputs, best first.
    Returns:
        the last epoch used, to pass in with ``visited`` next time.
    """
    ef = max(ef, k)
    filtered = mask.shape[0] > 0
    bufs = sorted_buffers(ef, graph[1].shape[1])
    found_dist, found_rows = bufs[0], bufs[1]
    heaps = heap_buffers(ef, max(4 * ef, 64))
    for qi in range(q.shape[0]):
        qv = q[qi]
        epoch = next_epoch(visited, epoch)
        cur, dcur = greedy(qv, entry, top_level, 0, graph, metric)
        if filtered:
            # Heaps let the walk continue until ef *allowed* nodes are found.
            n_res, heaps = search_layer(qv, cur, dcur, 0, ef, graph, metric, mask, visited, epoch, heaps)
            count = drain_sorted(heaps[2], heaps[3], n_res, found_rows, found_dist)
        else:
            count = search_layer_sorted(qv, cur, dcur, 0, ef, graph, metric, visited, epoch, bufs)
        for j in range(k):
            if j < count:
                out_rows[qi, j] = found_rows[j]
                out_dist[qi, j] = found_dist[j]
            else:
                out_rows[qi, j] = -1
                out_dist[qi, j] = np.inf
    return epoch
