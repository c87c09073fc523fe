"""HNSW compaction: reconnect around deleted nodes, then renumber the surviving rows.

Each live node that links to a deleted node gets a new neighbour list chosen by
the selection heuristic from its live neighbours plus the live neighbours of
its deleted neighbours (the two-hop repair of FreshDiskANN, Singh et al. 2021),
so paths that ran through deleted nodes survive. A node left with no live
candidate at all is re-linked by a fresh search from the entry point.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from indexes.hnsw.build import add_link, select_heuristic, set_links
from indexes.hnsw.graph import drain_sorted, greedy, neighbours, next_epoch, search_layer
from indexes.kernels import distance, row_distance


@njit(nogil=True, cache=True)
def _relink_by_search(
    u,
    lv,
    x,
    links0,
    deg0,
    up_off,
    links_up,
    deg_up,
    top,
    ef,
    metric,
    alive,
    visited,
    epoch,
    cand_k,
    cand_v,
    res_k,
    res_v,
    rows,
    dists,
):
    """Candidates for ``u`` at level ``lv`` from a search that starts at the entry point."""
    q = x[u]
    cur, dcur = greedy(
        q, top[0], distance(x, top[0], q, metric), top[1], lv, x, links0, deg0, up_off, links_up, deg_up, metric
    )
    n_res, cand_k, cand_v = search_layer(
        q,
        cur,
        dcur,
        lv,
        ef,
        x,
        links0,
        deg0,
        up_off,
        links_up,
        deg_up,
        metric,
        alive,
        visited,
        epoch,
        cand_k,
        cand_v,
        res_k,
        res_v,
    )
    count = drain_sorted(res_k, res_v, n_res, rows, dists)
    kept = 0
    for i in range(count):
        if rows[i] != u:
            rows[kept], dists[kept] = rows[i], dists[i]
            kept += 1
    return kept, cand_k, cand_v


@njit(nogil=True, cache=True)
def repair_links(dead, x, levels, links0, deg0, up_off, links_up, deg_up, top, m, ef_construction, metric):
    """Drop every link to a ``dead`` node, choosing replacements among two-hop neighbours.

    Args:
        dead: bool (rows,) nodes being removed; ``top[0]`` must be a live node.
        Other arguments as in :func:`indexes.hnsw.graph.insert_rows`.
    """
    n = dead.shape[0]
    m0 = links0.shape[1]
    alive = ~dead
    visited = np.zeros(n, dtype=np.uint8)
    epoch = 0
    buf = m0 * (m0 + 1) + ef_construction + 2
    rows = np.empty(buf, dtype=np.int64)
    dists = np.empty(buf, dtype=np.float32)
    sel = np.empty(m0 + 1, dtype=np.int64)
    shrunk = np.empty(m0 + 1, dtype=np.int64)
    tmp_rows = np.empty(m0 + 1, dtype=np.int64)
    tmp_dist = np.empty(m0 + 1, dtype=np.float32)
    cand_k = np.empty(256, dtype=np.float32)
    cand_v = np.empty(256, dtype=np.int64)
    res_k = np.empty(ef_construction + 1, dtype=np.float32)
    res_v = np.empty(ef_construction + 1, dtype=np.int64)
    for u in range(n):
        if dead[u]:
            continue
        for lv in range(np.int64(levels[u]) + 1):
            nb = neighbours(u, lv, links0, deg0, up_off, links_up, deg_up)
            touched = False
            for i in range(nb.shape[0]):
                touched = touched or dead[nb[i]]
            if not touched:
                continue
            epoch = next_epoch(visited, epoch)
            visited[u] = epoch
            count = 0
            for i in range(nb.shape[0]):
                v = nb[i]
                hop = neighbours(v, lv, links0, deg0, up_off, links_up, deg_up) if dead[v] else nb[i : i + 1]
                for j in range(hop.shape[0]):
                    w = hop[j]
                    if not dead[w] and visited[w] != epoch:
                        visited[w] = epoch
                        rows[count] = w
                        dists[count] = row_distance(x, u, w, metric)
                        count += 1
            relinked = False
            if count == 0 and top[0] != u:
                epoch = next_epoch(visited, epoch)
                count, cand_k, cand_v = _relink_by_search(
                    u,
                    lv,
                    x,
                    links0,
                    deg0,
                    up_off,
                    links_up,
                    deg_up,
                    top,
                    ef_construction,
                    metric,
                    alive,
                    visited,
                    epoch,
                    cand_k,
                    cand_v,
                    res_k,
                    res_v,
                    rows,
                    dists,
                )
                relinked = True
            else:
                order = np.argsort(dists[:count])
                rows[:count] = rows[:count][order]
                dists[:count] = dists[:count][order]
            m_max = m0 if lv == 0 else m
            kept = select_heuristic(rows, dists, count, m_max, x, metric, sel)
            set_links(u, lv, sel, kept, links0, deg0, up_off, links_up, deg_up)
            if relinked:
                for i in range(kept):
                    add_link(
                        sel[i],
                        u,
                        lv,
                        m_max,
                        x,
                        links0,
                        deg0,
                        up_off,
                        links_up,
                        deg_up,
                        metric,
                        tmp_rows,
                        tmp_dist,
                        shrunk,
                    )


@njit(nogil=True, cache=True)
def remap_links(links, deg, keep, new_of):
    """Links of the kept rows renumbered by ``new_of``; entries that map to -1 are dropped.

    Args:
        links: int32 (slots, width) links; deg: int32 (slots,) counts.
        keep: int64 (kept,) slots to keep, in order.
        new_of: int64 (rows,) new row of each old row, -1 when removed.
    Returns:
        links int32 (kept, width) and deg int32 (kept,).
    """
    out = np.full((keep.shape[0], links.shape[1]), -1, dtype=np.int32)
    out_deg = np.zeros(keep.shape[0], dtype=np.int32)
    for i in range(keep.shape[0]):
        s = keep[i]
        c = 0
        for j in range(deg[s]):
            v = new_of[links[s, j]]
            if v >= 0:
                out[i, c] = v
                c += 1
        out_deg[i] = c
    return out, out_deg
