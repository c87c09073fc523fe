"""HNSW: hierarchical navigable small-world graph (Malkov & Yashunin, TPAMI 2018).

Spec ``HNSW{M}`` names the paper's ``M``, as FAISS's factory does, e.g.
``HNSW32``: each insertion links to ``M = 32`` neighbours, upper levels keep at
most ``M`` links per node and level 0 at most ``2M = 64``: the same graph as
``hnswlib`` with ``M=32`` and FAISS ``HNSW32``. ``HNSW32,ef_construction=400``
sets the build-time candidate list (default 200); ``ef_search`` is the
search-time one.

Deletes are tombstones that searches walk through but never return;
:meth:`HNSW.compact` reconnects the graph around them and drops their rows.

Unfiltered searches of a large index walk on 8-bit codes and re-rank with the
float32 vectors (``traverse``, :mod:`indexes.hnsw.sq8`); the codes are made at the
first search or save that needs them and saved (``sq8_*`` arrays; older files
without them make them in memory).
"""

from __future__ import annotations

import functools
import math
import threading
from typing import Any

import numpy as np

from core.errors import ConfigError
from indexes.approximate import ApproximateIndex
from indexes.base import Allow, SearchResult, as_matrix, register
from indexes.hnsw.batch import MIN_SPLIT, split_queries
from indexes.hnsw.build import insert_rows
from indexes.hnsw.config import HNSWConfig, HNSWParams
from indexes.hnsw.repair import drop_rows, repair_links
from indexes.hnsw.search import hnsw_query, hnsw_query_filtered, kernel_handle, new_scratch
from indexes.hnsw.sq8 import AUTO_MIN_BYTES, append_codes, make_codes, no_codes
from indexes.kernels import kernel_metric, mask_or_empty

_SEED = 20180101
# Upper levels stop here: far above log_M(n) for any realistic n.
_MAX_LEVEL = 100


# The ``graph`` tuple the kernels take (see indexes.hnsw.graph), in this order.
_KERNEL_GRAPH = ("vectors", "links0", "deg0", "up_off", "links_up", "deg_up")
_GRAPH_ARRAYS = ("vectors", "levels", "links0", "deg0", "up_off", "links_up", "deg_up")
_SQ8_ARRAYS = ("sq8_codes", "sq8_lo", "sq8_step")

_GRAPH_DTYPES = (np.float32, np.int32, np.int32, np.int32, np.int32, np.int32)  # of _KERNEL_GRAPH
_F32 = np.dtype(np.float32)
_I64 = np.dtype(np.int64)
_empty = np.empty
_new = object.__new__
# Per-thread scratch holds candidate lists of at least this ef (the default search's 64).
_MIN_EF_CAPACITY = 64


@register
class HNSW(ApproximateIndex):
    """Hierarchical navigable small-world graph built and searched in numba."""

    config_cls = HNSWConfig
    search_params_cls = HNSWParams

    def __init__(self, config: HNSWConfig, dim: int, metric: str = "cosine") -> None:
        super().__init__(config, dim, metric)
        self._internal = kernel_metric(self.metric)  # cosine: inner product of unit vectors
        self._normalize = self.metric == "cosine"
        self._graph_views: tuple | None = None
        self._tls = threading.local()  # per-thread kernel handle and scratch, see _handle
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
        self._graph_views = None
        self._sq: tuple | None = None  # (codes uint8 (>= rows, d), lo, step) once made, see indexes.hnsw.sq8

    def _view(self, name: str) -> np.ndarray:
        arr = self._g[name]
        used = self._n_up if name in ("links_up", "deg_up") else self._n_rows
        return arr[:used]

    def _graph(self) -> tuple[np.ndarray, ...]:
        """The used parts of (vectors, links0, deg0, up_off, links_up, deg_up), cached until the graph changes.

        Every method that replaces a graph array or changes ``_n_rows`` / ``_n_up``
        sets ``_graph_views`` to None; searches compare the cached tuple by identity.
        """
        views = self._graph_views
        if views is None:
            views = self._graph_views = tuple(self._view(name) for name in _KERNEL_GRAPH)
        return views

    def _reserve(self, rows: int, slots: int) -> None:
        """Grow the graph arrays (copying them into memory) to hold ``rows`` rows and ``slots`` upper slots."""
        for name, arr in self._g.items():
            need, used = (slots, self._n_up) if name in ("links_up", "deg_up") else (rows, self._n_rows)
            if need > arr.shape[0] or not arr.flags.writeable:
                cap = max(need, int(arr.shape[0] * 1.5)) if need > arr.shape[0] else arr.shape[0]
                grown = np.empty((cap, *arr.shape[1:]), dtype=arr.dtype)
                grown[:used] = arr[:used]
                self._g[name] = grown
                self._graph_views = None

    def _adopt(self, x: np.ndarray, given: Any) -> bool:
        """Make ``x`` the graph's vector array if the graph is empty and ``x`` is a copy the checks made
        (the normalised batch, for cosine), sharing no memory with ``given``, what the caller passed:
        a build then holds one float32 copy of its input, as hnswlib does, instead of two."""
        shared = isinstance(given, np.ndarray) and np.may_share_memory(x, given)
        if self._n_rows or shared or not x.flags.writeable:
            return False
        self._g["vectors"] = x
        self._graph_views = None
        return True

    def add(self, x: np.ndarray, ids: np.ndarray | None = None) -> np.ndarray:
        given = x
        x, ids = self._prepare_add(x, ids)
        adopted = self._adopt(x, given)
        start, end = self._n_rows, self._n_rows + x.shape[0]
        rng = np.random.default_rng([_SEED, start])
        draw = -np.log(1.0 - rng.random(x.shape[0])) / math.log(self.config.M)
        levels = np.minimum(np.floor(draw), _MAX_LEVEL).astype(np.int8)
        up_counts = levels.astype(np.int64)
        self._reserve(end, self._n_up + int(up_counts.sum()))
        g = self._g
        if not adopted:
            g["vectors"][start:end] = x
        g["levels"][start:end] = levels
        offsets = self._n_up + np.cumsum(up_counts) - up_counts
        g["up_off"][start:end] = np.where(levels > 0, offsets, -1)
        self._n_up += int(up_counts.sum())
        graph = tuple(g[name] for name in _KERNEL_GRAPH)  # whole arrays: rows start:end lie past the views
        insert_rows(
            start, end, graph, g["levels"], self._top, self.config.M, self.config.ef_construction, self._internal
        )
        if self._sq is not None:
            self._sq = append_codes(self._sq, start, g["vectors"][start:end])
        self._n_rows = end
        self._graph_views = None
        self._append_ids(ids)
        return ids

    def search(self, q: np.ndarray, k: int, *, allow: Allow = None, **params: Any) -> SearchResult:
        if allow is not None or self._live is not None or not self._n_live:
            return super().search(q, k, allow=allow, **params)  # filters, deletions, empty index
        # The common case, kept lean: the same checks as the template (parameters,
        # k >= 1, shape, NaN / infinity), the cheap way; the kernel normalises the
        # query, checks it is finite and writes ids and scores.
        p = self._params(params) if params else self.search_defaults
        ef = p.ef_search
        walk = p.traverse == "sq8" or (p.traverse == "auto" and self._big())
        if k.__class__ is not int or k < 1:
            k = self._check_k(k)
        if (
            not (q.__class__ is np.ndarray and q.dtype is _F32 and q.ndim == 2 and q.shape[1] == self.dim)
            or not q.flags.c_contiguous
        ):
            q = as_matrix(q, self.dim, "queries")
        out_ids = _empty((q.shape[0], k), _I64)  # positional dtype objects: a third of np.empty's cost
        out_scores = _empty((q.shape[0], k), _F32)
        if q.shape[0] < MIN_SPLIT:
            bad = hnsw_query(q, out_ids, out_scores, ef, True, walk, self._handle(ef if ef >= k else k, walk))
        else:
            bad = self._batch(q, True, out_ids, out_scores, ef, None, walk)
        if bad >= 0:
            raise ConfigError("queries contain NaN or infinite values; clean them before adding or searching")
        # SearchResult(out_ids, out_scores) without the frozen dataclass's __init__ (two object.__setattr__).
        result = _new(SearchResult)
        fields = result.__dict__
        fields["ids"] = out_ids
        fields["scores"] = out_scores
        return result

    def _search_rows(self, q: np.ndarray, k: int, params: HNSWParams, mask: np.ndarray | None):
        # The template's path (filters, deletions): q is checked and normalised already.
        rows = np.empty((q.shape[0], k), dtype=np.int64)
        scores = np.empty((q.shape[0], k), dtype=np.float32)
        self._batch(q, False, rows, scores, params.ef_search, None if mask is None else mask_or_empty(mask))
        return rows, scores

    def _big(self) -> bool:
        """Whether the float32 vectors reach :data:`indexes.hnsw.sq8.AUTO_MIN_BYTES` (``traverse="auto"``)."""
        return self._n_rows * self.dim * 4 >= AUTO_MIN_BYTES

    def _kernel(self, q, map_ids, out_ids, out_scores, ef, mask, walk=False) -> int:
        """Run :func:`hnsw_query` (``walk``: on 8-bit codes) or, given ``mask``, its filtered twin; returns a status."""
        handle = self._handle(max(ef, out_ids.shape[1]), walk)
        if mask is None:
            return hnsw_query(q, out_ids, out_scores, ef, map_ids, walk, handle)
        return hnsw_query_filtered(q, out_ids, out_scores, ef, map_ids, mask, handle)

    def _batch(self, q, map_ids, out_ids, out_scores, ef, mask, walk=False) -> int:
        """:meth:`_kernel` over the queries, split over the cores when there are enough of them (see
        :func:`indexes.hnsw.batch.split_queries`). Returns -1, or a query that is not finite."""
        kernel = functools.partial(self._kernel, walk=True) if walk else self._kernel
        return split_queries(kernel, q, map_ids, out_ids, out_scores, ef, mask)

    def _codes(self) -> tuple:
        """The 8-bit codes of the rows in use (made now if missing) with their ``lo`` and ``step``."""
        if self._sq is None:
            self._sq = make_codes(np.ascontiguousarray(self._view("vectors"), dtype=np.float32), self._internal)
        codes, lo, step = self._sq
        return codes[: self._n_rows], lo, step

    def _handle(self, ef: int, walk: bool = False) -> np.ndarray:
        """This thread's :func:`kernel_handle`: entry point, graph, ids and scratch for candidate lists of ``ef``.

        The scratch array (visited marks, candidate lists) is allocated once per
        thread and index, and again only when the graph or ``ef`` outgrows it,
        so searches from several threads never share one. Visited marks are
        reset by raising their epoch (a full clear only when the uint8 epoch
        wraps). The cache entry keeps every array the handle points to alive;
        it is rebuilt when the graph views or the ids array change.
        """
        cached = getattr(self._tls, "handle", None)
        if cached is not None and cached[0] is self._graph_views and cached[1] is self._ids and cached[2] >= ef:
            if cached[4] is not None or not walk:  # [4]: the codes, where the handle has them
                return cached[3]
        views = self._graph()
        # As the kernel reads them (no copy unless a loaded array differs).
        graph = tuple(np.ascontiguousarray(a, dtype=dt) for a, dt in zip(views, _GRAPH_DTYPES, strict=True))
        cap = max(ef, _MIN_EF_CAPACITY, 0 if cached is None else cached[2])
        # Room for the graph's spare capacity, so growing by small adds does not reallocate.
        rows = max(self._n_rows, self._g["vectors"].shape[0])
        scratch = new_scratch(rows, self.dim, cap, self.config.max_degree)
        ids = self._ids
        kernel_ids = np.ascontiguousarray(ids, dtype=np.int64)
        # The codes only where this search walks on them or they exist already (a handle serves both walks).
        sq = self._codes() if walk or self._sq is not None else no_codes(self.dim)
        handle = kernel_handle(self._top, graph, kernel_ids, scratch, self._internal, self._normalize, sq)
        # Everything the handle points to stays referenced here until the entry is replaced.
        codes = sq if sq[0].shape[0] else None
        self._tls.handle = (views, ids, cap, handle, codes, graph, kernel_ids, scratch, self._top)
        return handle

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
        self._g, new_of, n_up = drop_rows({name: v(name) for name in _GRAPH_ARRAYS}, keep)
        self._sq = None  # made again from the rows kept when next needed
        self._top[0] = new_of[self._top[0]]
        self._n_rows, self._n_up = keep.size, n_up
        self._graph_views = None
        self._reset_rows(keep)

    def _raw_vectors(self) -> np.ndarray:
        return self._view("vectors")

    def arrays(self) -> dict[str, np.ndarray]:
        """The graph arrays and, once made or where ``traverse="auto"`` walks on them, the 8-bit codes."""
        sq = self._codes() if self._n_rows and (self._sq is not None or self._big()) else ()
        return {
            **{name: self._view(name) for name in _GRAPH_ARRAYS},
            **dict(zip(_SQ8_ARRAYS, sq, strict=False)),
            **self._row_arrays(),
        }

    def state(self) -> dict[str, Any]:
        return {**super().state(), "entry": int(self._top[0]), "top_level": int(self._top[1])}

    @classmethod
    def from_arrays(cls, config, dim, metric, arrays, state: dict[str, Any]) -> HNSW:
        index = cls(config, dim, metric)
        index._g = {name: arrays[name] for name in _GRAPH_ARRAYS}
        index._n_rows, index._n_up = arrays["vectors"].shape[0], arrays["links_up"].shape[0]
        index._top = np.array([state["entry"], state["top_level"]], dtype=np.int64)
        index._graph_views = None
        if all(name in arrays for name in _SQ8_ARRAYS):  # absent from files written before the codes
            index._sq = tuple(arrays[name] for name in _SQ8_ARRAYS)
        index._load_rows(arrays, state)
        return index
