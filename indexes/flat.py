"""Flat: exact search by brute force, the ground truth for every approximate index."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from indexes.base import (
    Allow,
    Index,
    IndexConfig,
    SearchResult,
    allow_mask,
    as_ids,
    as_matrix,
    empty_result,
    normalize,
    register,
)

# Queries are scored against the database in blocks of this many rows, which
# bounds the temporary (n_queries, block) score matrix.
_BLOCK_ROWS = 65536


@dataclass(frozen=True)
class FlatConfig(IndexConfig):
    pattern: ClassVar[re.Pattern[str]] = re.compile(r"Flat")
    example: ClassVar[str] = "Flat"

    def spec(self) -> str:
        return "Flat"


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column positions and values of the k largest scores per row, best first.

    Args:
        scores: float32 (n, m); -inf marks excluded entries.
        k: how many to keep (k may exceed m; the rest is padded by the caller).
    Returns:
        positions int64 (n, min(k, m)), values float32 (n, min(k, m)).
    """
    m = scores.shape[1]
    kk = min(k, m)
    if kk == 0:
        return np.empty((scores.shape[0], 0), np.int64), np.empty((scores.shape[0], 0), np.float32)
    if kk < m:
        part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
    else:
        part = np.broadcast_to(np.arange(m), scores.shape).copy()
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1).astype(np.int64), np.take_along_axis(vals, order, axis=1)


def exact_scores(q: np.ndarray, x: np.ndarray, metric: str, x_sqnorm: np.ndarray | None = None) -> np.ndarray:
    """Scores (higher is better) of float32 queries (n, d) against rows (m, d).

    For ``cosine`` both sides must already be normalised; for ``l2`` the score
    is the negative squared distance.
    """
    s = q @ x.T
    if metric == "l2":
        xn = x_sqnorm if x_sqnorm is not None else np.einsum("ij,ij->i", x, x)
        qn = np.einsum("ij,ij->i", q, q)
        s = 2.0 * s - xn[None, :] - qn[:, None]
    return s.astype(np.float32, copy=False)


@register
class Flat(Index):
    """Exact k-NN over all stored vectors (cosine, inner product or L2)."""

    config_cls = FlatConfig

    def __init__(self, config: FlatConfig, dim: int, metric: str = "cosine") -> None:
        super().__init__(config, dim, metric)
        self._x = np.empty((0, self.dim), dtype=np.float32)
        self._ids = np.empty(0, dtype=np.int64)
        self._live = np.empty(0, dtype=bool)
        self._next_id = 0

    def add(self, x: np.ndarray, ids: np.ndarray | None = None) -> np.ndarray:
        x = as_matrix(x, self.dim)
        if ids is None:
            ids = np.arange(self._next_id, self._next_id + x.shape[0], dtype=np.int64)
        ids = as_ids(ids, x.shape[0])
        if self.metric == "cosine":
            x = normalize(x)
        self._x = np.concatenate([self._x, x]) if len(self._ids) else x.copy()
        self._ids = np.concatenate([self._ids, ids])
        self._live = np.concatenate([self._live, np.ones(x.shape[0], dtype=bool)])
        if ids.size:
            self._next_id = max(self._next_id, int(ids.max()) + 1)
        return ids

    def delete(self, ids: Iterable[int]) -> int:
        doomed = np.isin(self._ids, np.fromiter((int(i) for i in ids), dtype=np.int64)) & self._live
        if doomed.any():
            self._live = self._live.copy()
            self._live[doomed] = False
        return int(doomed.sum())

    def compact(self) -> None:
        if self._live.all():
            return
        keep = self._live
        self._x, self._ids = np.ascontiguousarray(self._x[keep]), self._ids[keep]
        self._live = np.ones(self._ids.shape[0], dtype=bool)

    def __len__(self) -> int:
        return int(self._live.sum())

    def search(self, q: np.ndarray, k: int, *, allow: Allow = None, **params: Any) -> SearchResult:
        self._params(params)
        k = self._check_k(k)
        q = as_matrix(q, self.dim, "queries")
        if self.metric == "cosine":
            q = normalize(q)
        out = empty_result(q.shape[0], k)
        mask = allow_mask(allow, self._ids)
        mask = self._live if mask is None else (mask & self._live)
        rows = None if mask.all() else np.flatnonzero(mask)
        if rows is not None and rows.size == 0:
            return out
        best_s = np.full((q.shape[0], 0), -np.inf, dtype=np.float32)
        best_i = np.empty((q.shape[0], 0), dtype=np.int64)
        n = self._x.shape[0] if rows is None else rows.size
        for start in range(0, n, _BLOCK_ROWS):
            sel = slice(start, min(n, start + _BLOCK_ROWS))
            block_rows = np.arange(sel.start, sel.stop) if rows is None else rows[sel]
            xb = self._x[sel] if rows is None else self._x[block_rows]
            s = exact_scores(q, np.asarray(xb), self.metric)
            pos, vals = top_k(s, k)
            best_s = np.concatenate([best_s, vals], axis=1)
            best_i = np.concatenate([best_i, self._ids[block_rows][pos]], axis=1)
            if best_s.shape[1] > k:
                pos, best_s = top_k(best_s, k)
                best_i = np.take_along_axis(best_i, pos, axis=1)
        kk = best_s.shape[1]
        out.ids[:, :kk] = best_i
        out.scores[:, :kk] = best_s
        return out

    def vectors(self, ids: Iterable[int]) -> np.ndarray:
        """Stored (normalised, for cosine) vectors of the given ids, float32 (n, dim)."""
        wanted = np.asarray(list(ids), dtype=np.int64)
        order = np.argsort(self._ids, kind="stable")
        pos = order[np.searchsorted(self._ids, wanted, sorter=order)]
        return np.asarray(self._x[pos])

    def arrays(self) -> dict[str, np.ndarray]:
        keep = self._live
        return {"vectors": self._x[keep], "ids": self._ids[keep]}

    def state(self) -> dict[str, Any]:
        return {"next_id": self._next_id}

    @classmethod
    def from_arrays(cls, config, dim, metric, arrays, state) -> Flat:
        index = cls(config, dim, metric)
        index._x = arrays["vectors"]
        index._ids = np.asarray(arrays["ids"], dtype=np.int64)
        index._live = np.ones(index._ids.shape[0], dtype=bool)
        if "next_id" in state:  # reading ids.max() would page in the whole memory-mapped array
            index._next_id = int(state["next_id"])
        else:
            index._next_id = int(index._ids.max()) + 1 if index._ids.size else 0
        return index
