"""Numba kernels of HNSW (Malkov & Yashunin 2018): graph layout and the searches within a level.

Graph layout (row ``u`` is a node; M is the paper's M, ``M0 = 2M``):

* ``links0`` int32 (rows, M0) and ``deg0`` int32 (rows,): level-0 neighbours;
* ``levels`` int8 (rows,): top level of each node;
* ``up_off`` int32 (rows,): first row in ``links_up`` of a node with level >= 1
  (level ``l`` lives in row ``up_off[u] + l - 1``), -1 for level-0 nodes;
* ``links_up`` int32 (slots, M) and ``deg_up`` int32 (slots,): upper levels.

Kernels take the arrays they walk as one tuple ``graph = (x, links0, deg0,
up_off, links_up, deg_up)`` (``x`` float32 (rows, d) the stored vectors): every
kernel needs all six, and one argument keeps the signatures and call sites
short. numba passes a tuple of arrays as its members, so it costs nothing.

Unfiltered searches (queries and construction) keep the ``ef`` best nodes in a
short sorted array; filtered ones keep two binary heaps, candidates to expand
(min-heap of distances) and the ``ef`` best allowed results (min-heap of
negated distances, so the worst result sits at the root). ``visited`` holds a uint8 epoch per node, so it
is reset by incrementing the epoch (and cleared only when the epoch wraps);
one byte per node keeps it in cache.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from indexes.kernels import distance, heap_grow, heap_pop, heap_push, heap_sift_down

# Cache lines of each unvisited neighbour's vector that search_layer_sorted
# prefetches while gathering the neighbours; the rest of a longer vector is
# prefetched one neighbour ahead while distances are computed.
PREFETCH_LINES = 4


@intrinsic
def prefetch(typingctx, arr, row, col):
    """Hint the CPU to bring the cache line holding ``arr[row, col]`` (2-D array) into cache; no effect on results."""
    if not isinstance(arr, types.Array) or arr.ndim != 2:
        return None

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        idx = [context.cast(builder, a, t, types.intp) for a, t in zip(args[1:], signature.args[1:], strict=True)]
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, idx)
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fn = builder.module.declare_intrinsic(
            "llvm.prefetch", [i8p], ir.FunctionType(ir.VoidType(), [i8p, i32] + [i32] * 2)
        )
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])  # read, keep in all levels, data
        return context.get_dummy_value()

    return types.void(arr, row, col), codegen


@njit(nogil=True, cache=True)
def prefetch_rest(x, v):
    """Prefetch the cache lines of ``x[v]`` past the first :data:`PREFETCH_LINES`."""
    per_line = 64 // x.itemsize
    for c in range(per_line * PREFETCH_LINES, x.shape[1], per_line):
        prefetch(x, v, c)


@njit(nogil=True, cache=True)
def prefetch_vector(x, v):
    """Prefetch the first :data:`PREFETCH_LINES` cache lines of stored vector ``x[v]`` (float32 or uint8 codes)."""
    per_line = 64 // x.itemsize
    for c in range(0, min(x.shape[1], per_line * PREFETCH_LINES), per_line):
        prefetch(x, v, c)


@njit(nogil=True, cache=True)
def next_epoch(visited, epoch):
    """The epoch of the next search; clears uint8 ``visited`` when the epoch would wrap."""
    if epoch >= 255:
        visited[:] = 0
        return 1
    return epoch + 1


@njit(nogil=True, cache=True)
def neighbours(u, level, graph):
    """View of the neighbour rows of node ``u`` at ``level``."""
    _, links0, deg0, up_off, links_up, deg_up = graph
    if level == 0:
        return links0[u, : deg0[u]]
    r = up_off[u] + level - 1
    return links_up[r, : deg_up[r]]


@njit(nogil=True, cache=True)
def greedy(q, entry, top, bottom, graph, metric):
    """Greedy walk (ef = 1) from ``entry`` on level ``top`` down to level ``bottom + 1``; returns (node, dist)."""
    x = graph[0]
    cur, dcur = entry, distance(x, entry, q, metric)
    for level in range(top, bottom, -1):
        changed = True
        while changed:
            changed = False
            nb = neighbours(cur, level, graph)
            for i in range(nb.shape[0]):
                v = nb[i]
                d = distance(x, v, q, metric)
                if d < dcur:
                    dcur, cur, changed = d, v, True
    return cur, dcur


@njit(nogil=True, cache=True)
def heap_buffers(ef, candidates):
    """The ``heaps`` of :func:`search_layer`, allocated once per kernel call and reused by every search in it.

    Returns (cand_k, cand_v) of ``candidates`` entries (grown when full) and (res_k, res_v) of ``ef + 1``.
    """
    return (
        np.empty(candidates, dtype=np.float32),
        np.empty(candidates, dtype=np.int64),
        np.empty(ef + 1, dtype=np.float32),
        np.empty(ef + 1, dtype=np.int64),
    )


@njit(nogil=True, cache=True)
def search_layer(q, entry, dentry, level, ef, graph, metric, mask, visited, epoch, heaps):
    """Best-first search of one level from ``entry`` keeping the ``ef`` closest allowed nodes.

    Disallowed nodes (``mask[u]`` False; an empty mask allows all) are walked
    through but never enter the results, so filtered searches stay connected.

    Args:
        heaps: (cand_k, cand_v, res_k, res_v) from :func:`heap_buffers`; result capacity >= ef + 1.
    Returns:
        (result count, heaps): the results are left in ``res_k``/``res_v`` as a heap of
        negated distances; the candidate buffers in the returned tuple may have been replaced.
    """
    x = graph[0]
    cand_k, cand_v, res_k, res_v = heaps
    has_mask = mask.shape[0] > 0
    visited[entry] = epoch
    n_cand = heap_push(cand_k, cand_v, 0, dentry, np.int64(entry))
    n_res = 0
    bound = np.inf
    if not has_mask or mask[entry]:
        n_res = heap_push(res_k, res_v, 0, -dentry, np.int64(entry))
        bound = dentry
    while n_cand > 0:
        dc, c = cand_k[0], cand_v[0]
        if dc > bound and n_res >= ef:
            break
        n_cand = heap_pop(cand_k, cand_v, n_cand)
        nb = neighbours(c, level, graph)
        for i in range(nb.shape[0]):
            v = nb[i]
            if visited[v] == epoch:
                continue
            visited[v] = epoch
            d = distance(x, v, q, metric)
            if n_res < ef or d < bound:
                if n_cand == cand_k.shape[0]:
                    cand_k, cand_v = heap_grow(cand_k, cand_v)
                n_cand = heap_push(cand_k, cand_v, n_cand, d, np.int64(v))
                if not has_mask or mask[v]:
                    if n_res < ef:
                        n_res = heap_push(res_k, res_v, n_res, -d, np.int64(v))
                    else:
                        heap_sift_down(res_k, res_v, n_res, -d, np.int64(v))
                    bound = -res_k[0]
    return n_res, (cand_k, cand_v, res_k, res_v)


@njit(nogil=True, cache=True)
def sorted_buffers(ef, degree):
    """The ``bufs`` of :func:`search_layer_sorted`, allocated once per kernel call and reused by every search in it.

    Returns (best_d, best_v, expanded) of ``ef + 1`` entries and (fresh, fresh_d) of ``degree`` (the level-0 degree).
    """
    return (
        np.empty(ef + 1, dtype=np.float32),
        np.empty(ef + 1, dtype=np.int64),
        np.empty(ef + 1, dtype=np.bool_),
        np.empty(degree, dtype=np.int64),
        np.empty(degree, dtype=np.float32),
    )


@njit(nogil=True, cache=True)
def search_layer_sorted(q, entry, dentry, level, ef, graph, metric, visited, epoch, bufs):
    """Unfiltered best-first search of one level, keeping the ``ef`` closest nodes in a sorted array.

    It expands the same nodes as :func:`search_layer` without a filter (the
    closest not-yet-expanded node while it is among the ``ef`` best), but a
    short sorted array with insertion is cheaper than two binary heaps.

    Args:
        bufs: (best_d, best_v, expanded, fresh, fresh_d) from :func:`sorted_buffers`.
    Returns:
        the number of results, left sorted closest first in ``best_d``/``best_v``.
    """
    x = graph[0]
    best_d, best_v, expanded, fresh, fresh_d = bufs
    visited[entry] = epoch
    best_d[0], best_v[0], expanded[0] = dentry, entry, False
    size, cur = 1, 0
    while cur < size:
        expanded[cur] = True
        nb = neighbours(best_v[cur], level, graph)
        # Gather unvisited neighbours first (prefetching their vectors), then compute
        # their distances in one independent loop: the memory loads overlap.
        n_fresh = 0
        for i in range(nb.shape[0]):
            v = nb[i]
            if visited[v] != epoch:
                visited[v] = epoch
                prefetch_vector(x, v)
                fresh[n_fresh] = v
                n_fresh += 1
        for i in range(n_fresh):
            if i + 1 < n_fresh:
                prefetch_rest(x, fresh[i + 1])
            fresh_d[i] = distance(x, fresh[i], q, metric)
        nxt = cur + 1
        for i in range(n_fresh):
            d = fresh_d[i]
            if size == ef and d >= best_d[size - 1]:
                continue
            pos = size if size < ef else size - 1
            while pos > 0 and best_d[pos - 1] > d:
                best_d[pos], best_v[pos], expanded[pos] = best_d[pos - 1], best_v[pos - 1], expanded[pos - 1]
                pos -= 1
            best_d[pos], best_v[pos], expanded[pos] = d, fresh[i], False
            if level == 0:
                prefetch(graph[1], fresh[i], 0)  # its links, read if it is expanded
            if size < ef:
                size += 1
            nxt = min(nxt, pos)
        cur = nxt
        while cur < size and expanded[cur]:
            cur += 1
    return size


@njit(nogil=True, cache=True)
def drain_sorted(res_k, res_v, n_res, out_rows, out_dist):
    """Empty a result heap into ``out_rows``/``out_dist``, closest first; returns the count."""
    count = n_res
    while n_res > 0:
        out_rows[n_res - 1] = res_v[0]
        out_dist[n_res - 1] = -res_k[0]
        n_res = heap_pop(res_k, res_v, n_res)
    return count
