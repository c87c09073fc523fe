"""Numba kernel of HNSW queries: greedy descent through the upper levels, then ``ef`` search on level 0.

One call of :func:`hnsw_query` answers a block of queries end to end: it checks
and (for cosine) normalises each query, searches, and writes the caller's ids
and public scores, so a single-query search costs one kernel call. Its scratch
memory (visited marks, the sorted candidate list, the query copy) is one array
the caller allocates once per thread (see :func:`scratch_views`), so an
unfiltered call allocates nothing; the arrays it reads come as one int64
handle (see :func:`kernel_handle`), so a call has seven arguments. With
``walk_codes`` the walk scores 8-bit codes of the vectors and re-ranks what it
kept with the float32 vectors (see :mod:`indexes.hnsw.sq8`).
"""

from __future__ import annotations

import numpy as np
from numba import carray, njit, types
from numba.extending import intrinsic

from indexes.hnsw.graph import drain_sorted, greedy, heap_buffers, next_epoch, search_layer, search_layer_sorted
from indexes.hnsw.sq8 import code_query, rerank


def scratch_bytes(rows: int, dim: int, ef: int, degree: int) -> int:
    """Bytes of the scratch array of :func:`hnsw_query` for ``rows`` rows and candidate lists up to ``ef``."""
    ni, nf, nb = _region_sizes(dim, ef, degree)
    return 8 * ni + _round8(4 * nf) + _round8(nb) + max(rows, 1)


def new_scratch(rows: int, dim: int, ef: int, degree: int) -> np.ndarray:
    """A zeroed scratch array for :func:`hnsw_query` (epoch 0, sized for ``ef``); see :func:`scratch_views`."""
    scratch = np.zeros(scratch_bytes(rows, dim, ef, degree), dtype=np.uint8)
    scratch[:16].view(np.int64)[:] = (0, ef)
    return scratch


@njit(nogil=True, cache=True)
def _round8(n):
    return (n + 7) // 8 * 8


@njit(nogil=True, cache=True)
def _region_sizes(dim, ef, degree):
    """Entries of the int64, float32 and bool regions of a scratch array for candidate lists up to ``ef``.

    int64: the epoch and ``ef`` (header), best rows (``ef + 1``), fresh rows (``degree``), re-rank rows (``ef``);
    float32: the query copy (``dim``), best distances (``ef + 1``), fresh distances (``degree``),
    the coded query (``dim``), re-rank distances (``ef``);
    bool: expanded flags (``ef + 1``).
    """
    return 2 + ef + 1 + degree + ef, dim + ef + 1 + degree + dim + ef, ef + 1


@njit(nogil=True, cache=True)
def scratch_views(scratch, dim, ef, degree):
    """Split one uint8 scratch array into the buffers of a query with candidate list ``ef``.

    A search's scratch is one array so that a call passes one argument for it
    (each array argument costs the call about 0.1 µs). Layout: the int64
    region (``[0]`` the epoch of ``visited``, ``[1]`` the ``ef`` the array was
    sized for), the float32 region, the bool region, then ``visited``: one
    uint8 epoch mark per row (see :func:`indexes.hnsw.graph.next_epoch`).

    Returns:
        (header int64 (2,), query copy float32 (dim,), visited uint8, bufs of
        :func:`indexes.hnsw.graph.search_layer_sorted` sized for ``ef``, and the
        coded query float32 (dim,) with the re-rank collector (float32 (ef,), int64 (ef,))
        of :func:`indexes.hnsw.sq8.rerank`).
    """
    cap = scratch[:16].view(np.int64)[1]
    ni, nf, nb = _region_sizes(dim, cap, degree)
    f0 = 8 * ni
    b0 = f0 + _round8(4 * nf)
    v0 = b0 + _round8(nb)
    ints = scratch[:f0].view(np.int64)
    floats = scratch[f0 : f0 + 4 * nf].view(np.float32)
    flags = scratch[b0 : b0 + nb].view(np.bool_)
    bufs = (
        floats[dim : dim + ef + 1],
        ints[2 : ef + 3],
        flags[: ef + 1],
        ints[2 + cap + 1 : 2 + cap + 1 + degree],
        floats[dim + cap + 1 : dim + cap + 1 + degree],
    )
    f1 = dim + cap + 1 + degree
    i1 = 2 + cap + 1 + degree
    walk = (floats[f1 : f1 + dim], floats[f1 + dim : f1 + dim + ef], ints[i1 : i1 + ef])
    return ints[:2], floats[:dim], scratch[v0:], bufs, walk


@njit(nogil=True, cache=True)
def load_query(q, qi, normalize, out):
    """Copy query ``qi`` of ``q`` into ``out``, scaled to unit norm when ``normalize``; False if not finite.

    The arithmetic is that of :func:`indexes.kernels.unit_rows`, so the copy is
    bit-identical to it. The float64 sum of squares of float32 values is finite
    exactly when every value is.
    """
    s = 0.0
    for j in range(q.shape[1]):
        s += np.float64(q[qi, j]) * q[qi, j]
    if not np.isfinite(s):
        return False
    if normalize:
        scale = 1.0 / np.sqrt(s) if s > 0 else 0.0
        for j in range(q.shape[1]):
            out[j] = q[qi, j] * scale
    else:
        for j in range(q.shape[1]):
            out[j] = q[qi, j]
    return True


def kernel_handle(top, graph, ids, scratch, metric: int, normalize: bool, sq: tuple) -> np.ndarray:
    """Addresses and shapes of the arrays a search reads, as one int64 array for :func:`hnsw_query`.

    Each array argument of a numba call costs about 0.1 µs to type and unbox,
    as much as a tenth of a small query; the handle passes the twelve arrays a
    search reads (entry point, graph, ids, scratch, and ``sq``: the 8-bit codes
    uint8 (rows or 0, d) with their ``lo`` and ``step`` float32 (d,)) as one. The caller must
    keep those arrays alive, unchanged in size, while the handle is in use (an
    HNSW index keeps them in the per-thread cache that holds the handle), and
    they must be C-contiguous of the dtypes :func:`unpack` reads.
    """
    x, links0, deg0, up_off, links_up, deg_up = graph
    codes, lo, step = sq
    for arr, dtype in zip((top, *graph, ids, scratch, *sq), _HANDLE_DTYPES, strict=True):
        if arr.dtype != dtype or not arr.flags.c_contiguous:
            raise ValueError(f"kernel_handle needs C-contiguous {dtype} arrays, got {arr.dtype}")
    return np.array(
        [
            x.ctypes.data, x.shape[0], x.shape[1],
            links0.ctypes.data, links0.shape[0], links0.shape[1],
            deg0.ctypes.data, deg0.shape[0],
            up_off.ctypes.data, up_off.shape[0],
            links_up.ctypes.data, links_up.shape[0], links_up.shape[1],
            deg_up.ctypes.data, deg_up.shape[0],
            top.ctypes.data,
            ids.ctypes.data, ids.shape[0],
            scratch.ctypes.data, scratch.shape[0],
            metric, int(normalize),
            codes.ctypes.data, codes.shape[0], lo.ctypes.data, step.ctypes.data,
        ],
        dtype=np.int64,
    )  # fmt: skip


_HANDLE_DTYPES = (np.int64, np.float32, np.int32, np.int32, np.int32, np.int32, np.int32, np.int64, np.uint8) + (
    np.uint8,
    np.float32,
    np.float32,
)


@intrinsic
def _pointer(typingctx, addr, dtype):
    """The int64 address ``addr`` as a pointer to ``dtype`` (a numpy scalar type)."""
    ptrty = types.CPointer(dtype.dtype)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(ptrty))

    return ptrty(addr, dtype), codegen


@njit(nogil=True, cache=True)
def unpack(h):
    """Views of the arrays in a :func:`kernel_handle`: (top, graph, ids, scratch, metric, normalize, sq)."""
    x = carray(_pointer(h[0], np.float32), (h[1], h[2]))
    links0 = carray(_pointer(h[3], np.int32), (h[4], h[5]))
    deg0 = carray(_pointer(h[6], np.int32), h[7])
    up_off = carray(_pointer(h[8], np.int32), h[9])
    links_up = carray(_pointer(h[10], np.int32), (h[11], h[12]))
    deg_up = carray(_pointer(h[13], np.int32), h[14])
    top = carray(_pointer(h[15], np.int64), 2)
    ids = carray(_pointer(h[16], np.int64), h[17])
    scratch = carray(_pointer(h[18], np.uint8), h[19])
    codes = carray(_pointer(h[22], np.uint8), (h[23], h[2]))
    sq = (codes, carray(_pointer(h[24], np.float32), h[2]), carray(_pointer(h[25], np.float32), h[2]))
    return top, (x, links0, deg0, up_off, links_up, deg_up), ids, scratch, h[20], h[21] != 0, sq


@njit(nogil=True, cache=True)
def hnsw_query(q, out_ids, out_scores, ef, map_ids, walk_codes, handle):
    """k best rows of each query; returns -1, or the first query that holds NaN or infinity.

    Args:
        q: float32 (nq, d) queries (C-contiguous).
        out_ids: int64 (nq, k) and out_scores: float32 (nq, k) outputs, best first; padding -1 / -inf.
            Scores are negated kernel distances (the public score of every HNSW metric).
        ef: size of the dynamic candidate list (raised to k).
        map_ids: write the caller's ids (the handle's ``ids``) rather than rows.
        walk_codes: walk the graph on the handle's 8-bit codes (it must hold them), then re-rank
            the ``ef`` rows found with the float32 vectors.
        handle: int64 from :func:`kernel_handle`: entry point (row, level), graph (see
            :mod:`indexes.hnsw.graph`), ids, scratch from :func:`new_scratch` (for at least
            the graph's rows and ``max(ef, k)``), kernel metric and whether to normalise queries.
    """
    top, graph, ids, scratch, metric, normalize, sq = unpack(handle)
    if walk_codes:
        return _query_codes(q, ids, map_ids, out_ids, out_scores, ef, metric, normalize, top, graph, scratch, sq)
    return _query(q, ids, map_ids, out_ids, out_scores, ef, metric, normalize, _NO_MASK, top, graph, scratch)


@njit(nogil=True, cache=True)
def hnsw_query_filtered(q, out_ids, out_scores, ef, map_ids, mask, handle):
    """:func:`hnsw_query` returning only rows allowed by ``mask`` (bool (rows,)); the walk passes through the others."""
    top, graph, ids, scratch, metric, normalize, _ = unpack(handle)
    return _query(q, ids, map_ids, out_ids, out_scores, ef, metric, normalize, mask, top, graph, scratch)


_NO_MASK = np.zeros(0, dtype=np.bool_)


@njit(nogil=True, cache=True)
def _query(q, ids, map_ids, out_ids, out_scores, ef, metric, normalize, mask, top, graph, scratch):
    k = out_ids.shape[1]
    ef = max(ef, k)
    header, qv, visited, bufs, _ = scratch_views(scratch, graph[0].shape[1], ef, graph[1].shape[1])
    found_dist, found_rows = bufs[0], bufs[1]
    filtered = mask.shape[0] > 0
    if filtered:
        heaps = heap_buffers(ef, max(4 * ef, 64))
    else:
        heaps = heap_buffers(0, 0)
    entry, top_level = top[0], top[1]
    epoch = header[0]
    for qi in range(q.shape[0]):
        if not load_query(q, qi, normalize, qv):
            header[0] = epoch
            return qi
        epoch = next_epoch(visited, epoch)
        cur, dcur = greedy(qv, entry, top_level, 0, graph, metric)
        if filtered:
            # Heaps let the walk continue until ef *allowed* nodes are found.
            n_res, heaps = search_layer(qv, cur, dcur, 0, ef, graph, metric, mask, visited, epoch, heaps)
            count = drain_sorted(heaps[2], heaps[3], n_res, found_rows, found_dist)
        else:
            count = search_layer_sorted(qv, cur, dcur, 0, ef, graph, metric, visited, epoch, bufs)
        write_row(out_ids[qi], out_scores[qi], found_rows, found_dist, count, ids, map_ids)
    header[0] = epoch
    return -1


@njit(nogil=True, cache=True)
def write_row(out_ids, out_scores, rows, dists, count, ids, map_ids):
    """One query's answer: the first ``min(k, count)`` rows (as ids when ``map_ids``) and their scores."""
    for j in range(out_ids.shape[0]):
        if j < count:
            r = rows[j]
            out_ids[j] = ids[r] if map_ids else r
            out_scores[j] = -dists[j]
        else:
            out_ids[j] = -1
            out_scores[j] = -np.inf


@njit(nogil=True, cache=True)
def _query_codes(q, ids, map_ids, out_ids, out_scores, ef, metric, normalize, top, graph, scratch, sq):
    """:func:`_query` (unfiltered) walking the graph on 8-bit codes, then re-ranking with the float32 vectors."""
    k = out_ids.shape[1]
    ef = max(ef, k)
    x = graph[0]
    header, qv, visited, bufs, walk = scratch_views(scratch, x.shape[1], ef, graph[1].shape[1])
    qc, neg, vals = walk
    codes, lo, step = sq
    coded = (codes, graph[1], graph[2], graph[3], graph[4], graph[5])
    found_dist, found_rows = bufs[0], bufs[1]
    entry, top_level = top[0], top[1]
    epoch = header[0]
    for qi in range(q.shape[0]):
        if not load_query(q, qi, normalize, qv):
            header[0] = epoch
            return qi
        code_query(qv, lo, step, metric, qc)
        epoch = next_epoch(visited, epoch)
        cur, dcur = greedy(qc, entry, top_level, 0, coded, metric)
        count = search_layer_sorted(qc, cur, dcur, 0, ef, coded, metric, visited, epoch, bufs)
        count = rerank(qv, x, found_rows, found_dist, count, k, metric, neg, vals)
        write_row(out_ids[qi], out_scores[qi], found_rows, found_dist, count, ids, map_ids)
    header[0] = epoch
    return -1
