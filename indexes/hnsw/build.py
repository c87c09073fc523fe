"""HNSW construction: the neighbour-selection heuristic, back-links, and insertion.

Each inserted node searches every level it lives on with ``ef_construction``
(sorted-array search, :func:`indexes.hnsw.graph.search_layer_sorted`), keeps
``M`` neighbours chosen by the heuristic, and links them back; a neighbour
whose list overflows re-selects its own neighbours with the same heuristic.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from indexes.hnsw.graph import greedy, neighbours, next_epoch, search_layer_sorted, sorted_buffers
from indexes.kernels import row_distance


@njit(nogil=True, cache=True)
def select_heuristic(rows, dists, count, m_max, x, metric, out):
    """Neighbour-selection heuristic (paper's Algorithm 4, as in hnswlib).

    Takes candidates sorted by distance to the base node and keeps one only if
    it is closer to the base than to every neighbour kept so far, which spreads
    links over directions instead of crowding one cluster.

    Args:
        rows: int64 (>= count,) candidate rows, closest first; dists: their distances.
        out: int64 (>= m_max,) output.
    Returns:
        number of rows written to ``out``.
    """
    if count < m_max:
        for i in range(count):
            out[i] = rows[i]
        return count
    kept = 0
    for i in range(count):
        if kept >= m_max:
            break
        c = rows[i]
        good = True
        for j in range(kept):
            if row_distance(x, c, out[j], metric) < dists[i]:
                good = False
                break
        if good:
            out[kept] = c
            kept += 1
    return kept


@njit(nogil=True, cache=True)
def sort_by_distance(rows, dists, count):
    """Insertion sort of the first ``count`` (dist, row) pairs (short lists only)."""
    for i in range(1, count):
        d, r = dists[i], rows[i]
        j = i - 1
        while j >= 0 and dists[j] > d:
            dists[j + 1] = dists[j]
            rows[j + 1] = rows[j]
            j -= 1
        dists[j + 1] = d
        rows[j + 1] = r


@njit(nogil=True, cache=True)
def set_links(u, level, new, count, graph):
    """Replace the neighbours of ``u`` at ``level`` with ``new[:count]``."""
    _, links0, deg0, up_off, links_up, deg_up = graph
    if level == 0:
        for i in range(count):
            links0[u, i] = new[i]
        deg0[u] = count
    else:
        r = up_off[u] + level - 1
        for i in range(count):
            links_up[r, i] = new[i]
        deg_up[r] = count


@njit(nogil=True, cache=True)
def link_buffers(m0):
    """Scratch of :func:`connect` for a level-0 degree ``m0``: (sel, shrunk, tmp_rows, tmp_dist), ``m0 + 1`` each."""
    return (
        np.empty(m0 + 1, dtype=np.int64),
        np.empty(m0 + 1, dtype=np.int64),
        np.empty(m0 + 1, dtype=np.int64),
        np.empty(m0 + 1, dtype=np.float32),
    )


@njit(nogil=True, cache=True)
def add_link(s, u, level, m_max, graph, metric, scratch):
    """Link ``s -> u`` at ``level``; when ``s`` is full, re-select its neighbours by the heuristic."""
    x, links0, deg0, up_off, links_up, deg_up = graph
    _, shrunk, tmp_rows, tmp_dist = scratch
    nb = neighbours(s, level, graph)
    deg = nb.shape[0]
    if deg < m_max:
        if level == 0:
            links0[s, deg] = u
            deg0[s] = deg + 1
        else:
            r = up_off[s] + level - 1
            links_up[r, deg] = u
            deg_up[r] = deg + 1
        return
    for i in range(deg):
        tmp_rows[i] = nb[i]
        tmp_dist[i] = row_distance(x, s, nb[i], metric)
    tmp_rows[deg] = u
    tmp_dist[deg] = row_distance(x, s, u, metric)
    sort_by_distance(tmp_rows, tmp_dist, deg + 1)
    kept = select_heuristic(tmp_rows, tmp_dist, deg + 1, m_max, x, metric, shrunk)
    set_links(s, level, shrunk, kept, graph)


@njit(nogil=True, cache=True)
def connect(u, level, rows, dists, count, keep, m_max, back_links, graph, metric, scratch):
    """Give ``u`` at ``level`` the (at most ``keep``) neighbours the heuristic picks from ``rows[:count]``.

    With ``back_links`` each new neighbour also links back to ``u`` (capped at
    ``m_max``, re-selecting when full), as insertion does; compaction asks for
    it only for a node re-linked by a fresh search. Shared by insertion and
    compaction so both wire a node the same way.

    Args:
        rows, dists: candidates sorted closest first; scratch: from :func:`link_buffers`.
    """
    sel = scratch[0]
    kept = select_heuristic(rows, dists, count, keep, graph[0], metric, sel)
    set_links(u, level, sel, kept, graph)
    if back_links:
        for i in range(kept):
            add_link(sel[i], u, level, m_max, graph, metric, scratch)


@njit(nogil=True, cache=True)
def insert_rows(start, end, graph, levels, top, m, ef_construction, metric):
    """Insert rows ``start:end`` (vectors and levels already stored) into the graph.

    Args:
        graph: (x, links0, deg0, up_off, links_up, deg_up), see :mod:`indexes.hnsw.graph`.
        top: int64 (2,) in/out: entry-point row (-1 for an empty graph) and its level.
        m: the paper's M (links made per insertion; upper-level cap); level 0 caps at ``2 m``.
        ef_construction: size of the dynamic candidate list while inserting.
    """
    x, links0, deg0, up_off, _, deg_up = graph
    m0 = links0.shape[1]
    visited = np.zeros(x.shape[0], dtype=np.uint8)
    epoch = 0
    bufs = sorted_buffers(ef_construction, m0)
    found_dist, found_rows = bufs[0], bufs[1]
    scratch = link_buffers(m0)
    for u in range(start, end):
        level = np.int64(levels[u])
        deg0[u] = 0
        for lv in range(1, level + 1):
            deg_up[up_off[u] + lv - 1] = 0
        if top[0] < 0:
            top[0], top[1] = u, level
            continue
        q = x[u]
        cur, dcur = greedy(q, top[0], top[1], level, graph, metric)
        for lv in range(min(level, top[1]), -1, -1):
            epoch = next_epoch(visited, epoch)
            count = search_layer_sorted(q, cur, dcur, lv, ef_construction, graph, metric, visited, epoch, bufs)
            connect(u, lv, found_rows, found_dist, count, m, m0 if lv == 0 else m, True, graph, metric, scratch)
            cur, dcur = found_rows[0], found_dist[0]
        if level > top[1]:
            top[0], top[1] = u, level
