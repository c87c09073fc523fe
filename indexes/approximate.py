"""Machinery shared by the native approximate indexes (LSH, KD, PQ, IVF-PQ, HNSW).

Every such index stores its vectors in *rows* (its own order) and keeps:

* ``_ids`` int64 (rows,): the caller's id of each row;
* ``_live`` bool (rows,) or None: None while no row is deleted;
* ``_n_live`` and ``_next_id`` scalars.

:meth:`ApproximateIndex.search` is a template: it validates inputs, turns the
``allow`` filter and the deletions into one row mask, answers *exactly* when
that mask lets through at most ``exact_fraction`` of the rows (graph and
tree searches lose recall when most neighbours are filtered out), and
otherwise calls the type's approximate kernel with the mask.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.errors import ConfigError
from indexes.base import (
    Allow,
    Index,
    SearchParams,
    SearchResult,
    allow_mask,
    as_ids,
    as_matrix,
    empty_result,
)
from indexes.flat import exact_scores, top_k
from indexes.kernels import rows_to_ids, unit_rows

# Exact scans over allowed rows are done in blocks of this many rows.
_EXACT_BLOCK = 32768


@dataclass(frozen=True)
class FilteredParams(SearchParams):
    """Search parameters every approximate index takes.

    Attributes:
        exact_fraction: when a filter (``allow`` plus deletions) lets through at
            most this fraction of the stored rows, the allowed rows are scanned
            exactly instead of searching the index structure.
    """

    exact_fraction: float = 0.05

    def __post_init__(self) -> None:
        if not 0.0 <= self.exact_fraction <= 1.0:
            raise ConfigError(f"exact_fraction must lie in [0, 1], got {self.exact_fraction}")


def positive(name: str, value: Any, minimum: int = 1, maximum: int | None = None) -> None:
    """Raise ConfigError unless ``value`` is an int in ``[minimum, maximum]`` (no upper bound when None).

    Build parameters carry an upper bound because a spec string may come from a
    client: ``HNSW99999`` would reserve 200k links per vector.
    """
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        bound = f"an integer >= {minimum}" if maximum is None else f"an integer between {minimum} and {maximum}"
        raise ConfigError(f"{name} must be {bound}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be an integer between {minimum} and {maximum}, got {value!r}")


class ApproximateIndex(Index):
    """Base of the native approximate indexes; see the module docstring."""

    search_params_cls = FilteredParams

    def __init__(self, config, dim: int, metric: str = "cosine") -> None:
        super().__init__(config, dim, metric)
        self._ids = np.empty(0, dtype=np.int64)
        self._live: np.ndarray | None = None
        self._n_live = 0
        self._next_id = 0
        self._params_cache: dict[tuple, tuple[SearchParams, SearchParams]] = {}

    # -- ids and deletions --------------------------------------------------
    def _prepare_add(self, x: np.ndarray, ids: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Validate an add: float32 (n, dim) vectors (normalised for cosine) and their ids."""
        self._require_trained()
        x = as_matrix(x, self.dim)
        if ids is None:
            ids = np.arange(self._next_id, self._next_id + x.shape[0], dtype=np.int64)
        ids = as_ids(ids, x.shape[0])
        if np.unique(ids).shape[0] != ids.shape[0]:
            raise ConfigError("ids passed to add contain duplicates; give each vector its own id")
        if ids.size and int(ids.min()) < self._next_id and self._n_live:
            stored = self._ids if self._live is None else self._ids[self._live]
            taken = np.isin(ids, stored)
            if taken.any():
                raise ConfigError(
                    f"ids {ids[taken][:5].tolist()} are already in the index; delete them first to replace them"
                )
        if self.metric == "cosine":
            x = unit_rows(x)
        return x, ids

    def _append_ids(self, ids: np.ndarray) -> None:
        self._ids = np.concatenate([self._ids, ids])
        if self._live is not None:
            self._live = np.concatenate([self._live, np.ones(ids.shape[0], dtype=bool)])
        self._n_live += ids.shape[0]
        if ids.size:
            self._next_id = max(self._next_id, int(ids.max()) + 1)

    def delete(self, ids: Iterable[int]) -> int:
        wanted = np.fromiter((int(i) for i in ids), dtype=np.int64)
        doomed = np.isin(self._ids, wanted)
        if self._live is not None:
            doomed &= self._live
        count = int(doomed.sum())
        if count:
            live = np.ones(self._ids.shape[0], dtype=bool) if self._live is None else self._live.copy()
            live[doomed] = False
            self._live = live
            self._n_live -= count
        return count

    def __len__(self) -> int:
        return self._n_live

    @property
    def deleted_count(self) -> int:
        """Rows deleted but not yet reclaimed by :meth:`compact`."""
        return int(self._ids.shape[0] - self._n_live)

    # -- search template -----------------------------------------------------
    def search(self, q: np.ndarray, k: int, *, allow: Allow = None, **params: Any) -> SearchResult:
        p = self._params(params)
        k = self._check_k(k)
        q = as_matrix(q, self.dim, "queries")
        if self.metric == "cosine":
            q = unit_rows(q)
        if self._n_live == 0:
            return empty_result(q.shape[0], k)
        mask = allow_mask(allow, self._ids)
        if self._live is not None:
            mask = self._live if mask is None else (mask & self._live)
        if mask is not None:
            n_allowed = int(np.count_nonzero(mask))
            if n_allowed == 0:
                return empty_result(q.shape[0], k)
            if n_allowed <= p.exact_fraction * self._ids.shape[0]:
                return self._result(*self._exact_rows(q, k, np.flatnonzero(mask)), k)
        return self._result(*self._search_rows(q, k, p, mask), k)

    def _result(self, rows: np.ndarray, row_scores: np.ndarray, k: int) -> SearchResult:
        ids = np.empty((rows.shape[0], k), dtype=np.int64)
        scores = np.empty((rows.shape[0], k), dtype=np.float32)
        rows_to_ids(rows, np.ascontiguousarray(row_scores, dtype=np.float32), self._ids, ids, scores)
        return SearchResult(ids, scores)

    def _params(self, params: dict[str, Any]) -> SearchParams:
        # Validated parameters are cached: building a frozen dataclass per call
        # costs more than a small query's kernel.
        if not params:
            return self.search_defaults
        key = tuple(sorted(params.items()))
        hit = self._params_cache.get(key)
        if hit is None or hit[0] is not self.search_defaults:  # defaults changed: validate again
            hit = (self.search_defaults, super()._params(params))
            if len(self._params_cache) > 64:
                self._params_cache.clear()
            self._params_cache[key] = hit
        return hit[1]

    @abstractmethod
    def _search_rows(
        self, q: np.ndarray, k: int, params: SearchParams, mask: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Approximate search over rows.

        Args:
            q: float32 (n, dim) queries, normalised for cosine.
            k: results per query.
            params: validated search parameters.
            mask: bool (rows,) allowed rows, or None when every row is allowed.
        Returns:
            rows int64 (n, k) with -1 padding, scores float32 (n, k) (higher is better).
        """

    def _scaled_budget(self, budget: int, mask: np.ndarray | None) -> int:
        """A per-query work budget divided by the fraction of rows the mask allows.

        Leaves (KD) or lists (IVF) hold proportionally fewer allowed vectors under
        a filter, so the budget grows to examine about as many allowed vectors.
        """
        if mask is None:
            return budget
        fraction = max(float(np.count_nonzero(mask)) / max(mask.shape[0], 1), 1e-9)
        return int(min(np.ceil(budget / fraction), 2**31 - 1))

    def _exact_rows(self, q: np.ndarray, k: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k over the given rows of the raw vectors (override where none are kept)."""
        x = self._raw_vectors()
        best_s = np.full((q.shape[0], 0), -np.inf, dtype=np.float32)
        best_r = np.empty((q.shape[0], 0), dtype=np.int64)
        for start in range(0, rows.shape[0], _EXACT_BLOCK):
            block = rows[start : start + _EXACT_BLOCK]
            s = exact_scores(q, np.asarray(x[block]), self.metric)
            pos, vals = top_k(s, k)
            best_s = np.concatenate([best_s, vals], axis=1)
            best_r = np.concatenate([best_r, block[pos]], axis=1)
            if best_s.shape[1] > k:
                pos, best_s = top_k(best_s, k)
                best_r = np.take_along_axis(best_r, pos, axis=1)
        return best_r, best_s

    def _raw_vectors(self) -> np.ndarray:
        """float32 (rows, dim) stored vectors (normalised for cosine)."""
        raise ConfigError(
            f"{type(self).__name__} keeps no raw vectors to re-score exactly; use a type that stores them "
            "(for IVF-PQ add ',RFlat')"
        )

    # -- persistence helpers -------------------------------------------------
    def _row_arrays(self) -> dict[str, np.ndarray]:
        """The ``ids`` array, plus ``live`` while deletions are pending."""
        out = {"ids": self._ids}
        if self._live is not None:
            out["live"] = self._live
        return out

    def state(self) -> dict[str, Any]:
        return {"next_id": self._next_id, "n_live": self._n_live}

    def _load_rows(self, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> None:
        self._ids = arrays["ids"]
        self._live = arrays.get("live")
        self._n_live = int(state["n_live"])
        self._next_id = int(state["next_id"])

    def _reset_rows(self, keep: np.ndarray | None) -> None:
        """Forget deleted rows after a compaction that kept rows ``keep`` (in order)."""
        if keep is not None:
            self._ids = np.ascontiguousarray(self._ids[keep])
        self._live = None
        self._n_live = self._ids.shape[0]
