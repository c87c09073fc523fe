"""Batch searches of HNSW split over the cores: one chunk of queries per thread, each with its own scratch.

A batch is split only when every thread gets at least :data:`MIN_PER_THREAD`
queries (a hand-off to a pool thread costs tens of µs, a query about as much),
and never below :data:`MIN_SPLIT` queries: single queries stay on the calling
thread. A query's answer does not depend on the queries before it, so the
results equal those of one thread.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

MIN_PER_THREAD = 8
MIN_SPLIT = 16

_pool: ThreadPoolExecutor | None = None
_pool_pid = 0
_pool_lock = threading.Lock()


def cores() -> int:
    """Processors this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover  (not Linux)
        return os.cpu_count() or 1


def thread_pool() -> ThreadPoolExecutor:
    """One pool for batch searches of every HNSW index, remade in a forked child (its threads are gone)."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool = ThreadPoolExecutor(max(cores() - 1, 1), thread_name_prefix="hnsw-search")
            _pool_pid = os.getpid()
        return _pool


def split_queries(kernel: Callable[..., int], q, map_ids, out_ids, out_scores, ef, mask) -> int:
    """``kernel(q, map_ids, out_ids, out_scores, ef, mask)`` over row chunks of ``q`` on several threads.

    The calling thread runs the first chunk; each thread writes its own rows of the outputs.
    Returns the largest status a chunk returned (-1, or a query that is not finite).
    """
    n = q.shape[0]
    workers = min(cores(), n // MIN_PER_THREAD) if n >= MIN_SPLIT else 1
    if workers <= 1:
        return kernel(q, map_ids, out_ids, out_scores, ef, mask)
    bounds = [n * i // workers for i in range(workers + 1)]
    pool = thread_pool()
    futures = [
        pool.submit(kernel, q[a:b], map_ids, out_ids[a:b], out_scores[a:b], ef, mask)
        for a, b in zip(bounds[1:-1], bounds[2:], strict=True)
    ]
    first = slice(0, bounds[1])
    status = [kernel(q[first], map_ids, out_ids[first], out_scores[first], ef, mask)]
    status += [f.result() for f in futures]
    return max(status)
