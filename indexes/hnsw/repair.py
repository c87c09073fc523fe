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

from indexes.hnsw.build import connect, link_buffers
from indexes.hnsw.graph import drain_sorted, greedy, heap_buffers, neighbours, next_epoch, search_layer
from indexes.kernels import row_distance


@njit(nogil=True, cache=True)
def _relink_by_search(u, lv, graph, top, ef, metric, alive, visited, epoch, heaps, rows, dists):
    """Candidates for ``u`` at level ``lv`` from a search that starts at the entry point.

    Returns:
        (count, heaps): the candidates, closest first, in ``rows``/``dists``;
        the heap buffers, possibly grown, for the next call.
    """
    q = graph[0][u]
    cur, dcur = greedy(q, top[0], top[1], lv, graph, metric)
    n_res, heaps = search_layer(q, cur, dcur, lv, ef, graph, metric, alive, visited, epoch, heaps)
    count = drain_sorted(heaps[2], heaps[3], n_res, rows, dists)
    kept = 0
    for i in range(count):
        if rows[i] != u:
            rows[kept], dists[kept] = rows[i], dists[i]
            kept += 1
    return kept, heaps


@njit(nogil=True, cache=True)
def repair_links(dead, graph, levels, top, m, ef_construction, metric):
    """Drop every link to a ``dead`` node, choosing replacements among two-hop neighbours.

    Args:
        dead: bool (rows,) nodes being removed; ``top[0]`` must be a live node.
        Other arguments as in :func:`indexes.hnsw.build.insert_rows`.
    """
    x = graph[0]
    n = dead.shape[0]
    m0 = graph[1].shape[1]
    alive = ~dead
    visited = np.zeros(n, dtype=np.uint8)
    epoch = 0
    buf = m0 * (m0 + 1) + ef_construction + 2
    rows = np.empty(buf, dtype=np.int64)
    dists = np.empty(buf, dtype=np.float32)
    scratch = link_buffers(m0)
    heaps = heap_buffers(ef_construction, 256)
    for u in range(n):
        if dead[u]:
            continue
        for lv in range(np.int64(levels[u]) + 1):
            nb = neighbours(u, lv, graph)
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
                hop = neighbours(v, lv, graph) if dead[v] else nb[i : i + 1]
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
                count, heaps = _relink_by_search(
                    u, lv, graph, top, ef_construction, metric, alive, visited, epoch, heaps, rows, dists
                )
                relinked = True
            else:
                order = np.argsort(dists[:count])
                rows[:count] = rows[:count][order]
                dists[:count] = dists[:count][order]
            # Only a node re-linked by a search gets links back from its new neighbours.
            m_max = m0 if lv == 0 else m
            connect(u, lv, rows, dists, count, m_max, m_max, relinked, graph, metric, scratch)


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


def drop_rows(arrays: dict[str, np.ndarray], keep: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray, int]:
    """The graph arrays of the rows ``keep`` (in order) alone, their links renumbered.

    Args:
        arrays: the used parts of vectors, levels, links0, deg0, up_off, links_up, deg_up.
        keep: int64 rows that survive.
    Returns:
        (the new arrays, new_of: int64 (rows,) new row of each old row or -1, upper-level slots in use).
    """
    levels = arrays["levels"]
    new_of = np.full(levels.shape[0], -1, dtype=np.int64)
    new_of[keep] = np.arange(keep.size)
    links0, deg0 = remap_links(arrays["links0"], arrays["deg0"], keep, new_of)
    kept_levels = levels[keep].astype(np.int64)
    upper = kept_levels > 0
    starts = arrays["up_off"][keep][upper].astype(np.int64)
    counts = kept_levels[upper]
    slots = np.repeat(starts - (np.cumsum(counts) - counts), counts) + np.arange(int(counts.sum()))
    links_up, deg_up = remap_links(arrays["links_up"], arrays["deg_up"], slots, new_of)
    up_off = np.full(keep.size, -1, dtype=np.int32)
    up_off[upper] = np.cumsum(counts) - counts
    out = {
        "vectors": np.ascontiguousarray(arrays["vectors"][keep]),
        "levels": levels[keep].copy(),
        "links0": links0,
        "deg0": deg0,
        "up_off": up_off,
        "links_up": links_up,
        "deg_up": deg_up,
    }
    return out, new_of, int(counts.sum())
