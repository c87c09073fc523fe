"""HNSW: hierarchical navigable small-world graph (Malkov & Yashunin, TPAMI 2018).

Spec ``HNSW{M}`` names the paper's ``M``, as FAISS's factory does, e.g.
``HNSW32``: each insertion links to ``M = 32`` neighbours, upper levels keep at
most ``M`` links per node and level 0 at most ``2M = 64``: the same graph as
``hnswlib`` with ``M=32`` and FAISS ``HNSW32``. ``HNSW32,ef_construction=400``
sets the build-time candidate list (default 200); ``ef_search`` is the
search-time one.

Deletes are tombstones that searches walk through but never return;
:meth:`HNSW.compact` reconnects the graph around them and drops their rows.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from indexes.approximate import ApproximateIndex, FilteredParams, positive
from indexes.base import IndexConfig, register
from indexes.hnsw.build import insert_rows
from indexes.hnsw.repair import remap_links, repair_links
from indexes.hnsw.search import hnsw_search
from indexes.kernels import kernel_metric, mask_or_empty, to_scores

_DEFAULT_EF_CONSTRUCTION = 200
# Upper bounds of the build parameters: hnswlib calls 2..100 the useful range of M
# (level 0 keeps 2M links per vector, so memory grows with it); past a few
# thousand, ef_construction only slows the build.
MAX_M = 128
MAX_EF_CONSTRUCTION = 4096
_SEED = 20180101
# Upper levels stop here: far above log_M(n) for any realistic n.
_MAX_LEVEL = 100


@dataclass(frozen=True)
class HNSWConfig(IndexConfig):
    """Build parameters of :class:`HNSW`.

    Attributes:
        m: the paper's ``M``: links per insertion and the upper-level degree cap (>= 2).
        ef_construction: candidate-list size while inserting (higher: better graph, slower build).
    """

    pattern: ClassVar[re.Pattern[str]] = re.compile(r"HNSW(\d+)(?:,ef_construction=(\d+))?")
    example: ClassVar[str] = "HNSW32"

    m: int = 32
    ef_construction: int = _DEFAULT_EF_CONSTRUCTION

    def __post_init__(self) -> None:
        positive("HNSW M", self.m, minimum=2, maximum=MAX_M)
        positive("ef_construction", self.ef_construction, maximum=MAX_EF_CONSTRUCTION)

    @property
    def M(self) -> int:  # noqa: N802  (the paper's name)
        """Links per insertion and the upper-level degree cap."""
        return self.m

    @property
    def max_degree(self) -> int:
        """``Mmax0 = 2M``: the most links per node on level 0."""
        return 2 * self.m

    @classmethod
    def from_match(cls, match: re.Match[str]) -> HNSWConfig:
        efc = match.group(2)
        return cls(int(match.group(1)), int(efc) if efc else _DEFAULT_EF_CONSTRUCTION)

    def spec(self) -> str:
        extra = "" if self.ef_construction == _DEFAULT_EF_CONSTRUCTION else f",ef_construction={self.ef_construction}"
        return f"HNSW{self.m}{extra}"


@dataclass(frozen=True)
class HNSWParams(FilteredParams):
    """Attributes:
    ef_search: candidate-list size of the level-0 search (raised to k): higher
        means better recall and slower queries.
    """

    ef_search: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        positive("ef_search", self.ef_search)


# The ``graph`` tuple the kernels take (see indexes.hnsw.graph), in this order.
_KERNEL_GRAPH = ("vectors", "links0", "deg0", "up_off", "links_up", "deg_up")
_GRAPH_ARRAYS = ("vectors", "levels", "links0", "deg0", "up_off", "links_up", "deg_up")


@register
class HNSW(ApproximateIndex):
    """Hierarchical navigable small-world graph built and searched in numba."""

    config_cls = HNSWConfig
    search_params_cls = HNSWParams

    def __init__(self, config: HNSWConfig, dim: int, metric: str = "cosine") -> None:
        super().__init__(config, dim, metric)
        self._internal = kernel_metric(self.metric)  # cosine: inner product of unit vectors
        self._visited_pool: list[tuple[np.ndarray, int]] = []
        self._graph_views: tuple | None = None
        self._pool_lock = threading.Lock()
        self._clear_graph()

    def _clear_graph(self) -> None:
        config = self.config
        self._g = {
            "vectors": np.empty((0, self.dim), dtype=np.float32),
            "levels": np.empty(0, dtype=np.int8),
            "links0": np.empty((0, config.max_degree), dtype=np.int32),
            "deg0": np.empty(0, dtype=np.int32),
            "up_off": np.empty(0, dtype=np.int32),
            "links_up": np.empty((0, config.M), dtype=np.int32),
            "deg_up": np.empty(0, dtype=np.int32),
        }
        self._n_rows = 0  # rows in use; arrays may hold spare capacity
        self._n_up = 0  # upper-level slots in use
        self._top = np.array([-1, -1], dtype=np.int64)  # entry row, its level

    def _view(self, name: str) -> np.ndarray:
        arr = self._g[name]
        used = self._n_up if name in ("links_up", "deg_up") else self._n_rows
        return arr[:used]

    def _graph(self) -> tuple[np.ndarray, ...]:
        """The used parts of (vectors, links0, deg0, up_off, links_up, deg_up), cached between changes."""
        key = (self._n_rows, self._n_up, *map(id, self._g.values()))
        cached = self._graph_views
        if cached is None or cached[0] != key:
            views = tuple(self._view(name) for name in _KERNEL_GRAPH)
            cached = self._graph_views = (key, views)
        return cached[1]

    def _reserve(self, rows: int, slots: int) -> None:
        """Grow the graph arrays (copying them into memory) to hold ``rows`` rows and ``slots`` upper slots."""
        for name, arr in self._g.items():
            need, used = (slots, self._n_up) if name in ("links_up", "deg_up") else (rows, self._n_rows)
            if need > arr.shape[0] or not arr.flags.writeable:
                cap = max(need, int(arr.shape[0] * 1.5)) if need > arr.shape[0] else arr.shape[0]
                grown = np.empty((cap, *arr.shape[1:]), dtype=arr.dtype)
                grown[:used] = arr[:used]
                self._g[name] = grown

    def add(self, x: np.ndarray, ids: np.ndarray | None = None) -> np.ndarray:
        x, ids = self._prepare_add(x, ids)
        start, end = self._n_rows, self._n_rows + x.shape[0]
        rng = np.random.default_rng([_SEED, start])
        draw = -np.log(1.0 - rng.random(x.shape[0])) / math.log(self.config.M)
        levels = np.minimum(np.floor(draw), _MAX_LEVEL).astype(np.int8)
        up_counts = levels.astype(np.int64)
        self._reserve(end, self._n_up + int(up_counts.sum()))
        g = self._g
        g["vectors"][start:end] = x
        g["levels"][start:end] = levels
        offsets = self._n_up + np.cumsum(up_counts) - up_counts
        g["up_off"][start:end] = np.where(levels > 0, offsets, -1)
        self._n_up += int(up_counts.sum())
        graph = tuple(g[name] for name in _KERNEL_GRAPH)  # whole arrays: rows start:end lie past the views
        insert_rows(
            start, end, graph, g["levels"], self._top, self.config.M, self.config.ef_construction, self._internal
        )
        self._n_rows = end
        self._append_ids(ids)
        return ids

    def _search_rows(self, q: np.ndarray, k: int, params: HNSWParams, mask: np.ndarray | None):
        rows = np.empty((q.shape[0], k), dtype=np.int64)
        dist = np.empty((q.shape[0], k), dtype=np.float32)
        visited, epoch = self._take_visited()
        epoch = hnsw_search(
            q,
            k,
            params.ef_search,
            self._graph(),
            int(self._top[0]),
            int(self._top[1]),
            self._internal,
            mask_or_empty(mask),
            visited,
            epoch,
            rows,
            dist,
        )
        with self._pool_lock:
            self._visited_pool.append((visited, epoch))
        return rows, to_scores(dist, self.metric, self._internal)

    def _take_visited(self) -> tuple[np.ndarray, int]:
        """A visited-marks buffer and its last epoch, reused across searches (one per concurrent search).

        Clearing a fresh array per query would cost a memset of one byte per
        vector; pooled buffers are reset only when their uint8 epoch wraps.
        """
        with self._pool_lock:
            while self._visited_pool:
                visited, epoch = self._visited_pool.pop()
                if visited.shape[0] >= self._n_rows:
                    return visited, epoch
        return np.zeros(max(self._n_rows, 1), dtype=np.uint8), 0

    def compact(self) -> None:
        """Reconnect the graph around deleted nodes, then drop their rows and upper slots."""
        if self._live is None:
            return
        live = np.asarray(self._live)
        keep = np.flatnonzero(live)
        if keep.size == 0:
            self._clear_graph()
            self._reset_rows(keep)
            return
        self._reserve(self._n_rows, self._n_up)  # writable copies of memory-mapped arrays
        v = self._view
        levels = v("levels")
        if not live[self._top[0]]:
            best = int(keep[np.argmax(levels[keep])])
            self._top[:] = (best, int(levels[best]))
        repair_links(
            ~live, self._graph(), levels, self._top, self.config.M, self.config.ef_construction, self._internal
        )
        new_of = np.full(self._n_rows, -1, dtype=np.int64)
        new_of[keep] = np.arange(keep.size)
        links0, deg0 = remap_links(v("links0"), v("deg0"), keep, new_of)
        kept_levels = levels[keep].astype(np.int64)
        upper = kept_levels > 0
        starts = v("up_off")[keep][upper].astype(np.int64)
        counts = kept_levels[upper]
        slots = np.repeat(starts - (np.cumsum(counts) - counts), counts) + np.arange(int(counts.sum()))
        links_up, deg_up = remap_links(v("links_up"), v("deg_up"), slots, new_of)
        up_off = np.full(keep.size, -1, dtype=np.int32)
        up_off[upper] = np.cumsum(counts) - counts
        self._g = {
            "vectors": np.ascontiguousarray(v("vectors")[keep]),
            "levels": levels[keep].copy(),
            "links0": links0,
            "deg0": deg0,
            "up_off": up_off,
            "links_up": links_up,
            "deg_up": deg_up,
        }
        self._top[0] = new_of[self._top[0]]
        self._n_rows, self._n_up = keep.size, int(counts.sum())
        self._reset_rows(keep)

    def _raw_vectors(self) -> np.ndarray:
        return self._view("vectors")

    def arrays(self) -> dict[str, np.ndarray]:
        return {**{name: self._view(name) for name in _GRAPH_ARRAYS}, **self._row_arrays()}

    def state(self) -> dict[str, Any]:
        return {**super().state(), "entry": int(self._top[0]), "top_level": int(self._top[1])}

    @classmethod
    def from_arrays(cls, config, dim, metric, arrays, state: dict[str, Any]) -> HNSW:
        index = cls(config, dim, metric)
        index._g = {name: arrays[name] for name in _GRAPH_ARRAYS}
        index._n_rows, index._n_up = arrays["vectors"].shape[0], arrays["links_up"].shape[0]
        index._top = np.array([state["entry"], state["top_level"]], dtype=np.int64)
        index._load_rows(arrays, state)
        return index
