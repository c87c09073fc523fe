"""LSH: random-hyperplane signatures (SimHash, Charikar 2002) in several hash tables.

Spec ``LSH{nbits}`` (e.g. ``LSH256``): each vector gets an ``nbits``-bit
signature, one sign bit per random hyperplane; two vectors at angle ``theta``
disagree on a bit with probability ``theta / pi``. The signature is cut into
tables of ``key_bits`` bits each (``key_bits`` grows with the index so that a
bucket holds about eight vectors), and a query probes the nearest buckets of
every table (multi-probe). The pooled rows are ranked by Hamming distance over
the whole signature and the best ``candidates`` are re-scored exactly.

The hash approximates the angle, so it suits cosine best; with ``ip`` or
``l2`` the candidates are still re-scored with the true metric.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from core.errors import ConfigError
from indexes.approximate import ApproximateIndex, FilteredParams, positive
from indexes.base import IndexConfig, register
from indexes.kernels import kernel_metric, mask_or_empty, to_scores
from indexes.lsh_probe import lsh_search

# Hyperplanes are drawn from this seed and saved with the index.
_SEED = 20240601
# Target mean bucket size, from which key_bits is derived (2**key_bits ~ rows / 8).
_BUCKET_ROWS = 8


@dataclass(frozen=True)
class LSHConfig(IndexConfig):
    """Build parameters of :class:`LSH`.

    Attributes:
        nbits: signature length in bits (hyperplanes), 8..4096.
    """

    pattern: ClassVar[re.Pattern[str]] = re.compile(r"LSH(\d+)")
    example: ClassVar[str] = "LSH256"

    nbits: int = 256

    def __post_init__(self) -> None:
        if not isinstance(self.nbits, int) or not 8 <= self.nbits <= 4096:
            raise ConfigError(f"LSH nbits must be between 8 and 4096, got {self.nbits!r}")

    @classmethod
    def from_match(cls, match: re.Match[str]) -> LSHConfig:
        return cls(nbits=int(match.group(1)))

    def spec(self) -> str:
        return f"LSH{self.nbits}"


@dataclass(frozen=True)
class LSHParams(FilteredParams):
    """Attributes:
    probes: buckets probed per table, nearest first; 0 ranks every vector by
        Hamming distance instead (exhaustive, like FAISS IndexLSH).
    candidates: rows with the smallest Hamming distance re-scored exactly.
    """

    probes: int = 16
    candidates: int = 256

    def __post_init__(self) -> None:
        super().__post_init__()
        positive("probes", self.probes, minimum=0)
        positive("candidates", self.candidates)


def signatures(proj: np.ndarray) -> np.ndarray:
    """Pack sign bits of float32 (n, nbits) projections into uint64 (n, ceil(nbits / 64))."""
    n, nbits = proj.shape
    words = -(-nbits // 64)
    bits = np.zeros((n, words * 64), dtype=bool)
    bits[:, :nbits] = proj > 0
    packed = np.packbits(bits, axis=1, bitorder="little")  # (n, words * 8) uint8
    return np.ascontiguousarray(packed).view("<u8").astype(np.uint64, copy=False)


@register
class LSH(ApproximateIndex):
    """Multi-table, multi-probe SimHash index with exact re-scoring."""

    config_cls = LSHConfig
    search_params_cls = LSHParams

    def __init__(self, config: LSHConfig, dim: int, metric: str = "cosine") -> None:
        super().__init__(config, dim, metric)
        rng = np.random.default_rng(_SEED)
        self._planes = rng.standard_normal((config.nbits, self.dim)).astype(np.float32)
        self._x = np.empty((0, self.dim), dtype=np.float32)
        self._sigs = np.empty((0, -(-config.nbits // 64)), dtype=np.uint64)
        self._key_bits = 0
        self._table_rows = np.empty((0, 0), dtype=np.int32)
        self._table_offsets = np.empty((0, 1), dtype=np.int32)

    def add(self, x: np.ndarray, ids: np.ndarray | None = None) -> np.ndarray:
        x, ids = self._prepare_add(x, ids)
        self._x = np.concatenate([self._x, x])
        self._sigs = np.concatenate([self._sigs, signatures(x @ self._planes.T)])
        self._append_ids(ids)
        self._build_tables()
        return ids

    def _build_tables(self) -> None:
        """(Re)build every hash table from the signatures: rows sorted by key, plus offsets."""
        n, nbits = self._x.shape[0], self.config.nbits
        key_bits = int(np.clip(np.floor(np.log2(max(n, 1) / _BUCKET_ROWS)), 4, min(16, nbits)))
        n_tables = nbits // key_bits
        bits = np.unpackbits(self._sigs.view(np.uint8), axis=1, bitorder="little")[:, : n_tables * key_bits]
        weights = (1 << np.arange(key_bits)).astype(np.int64)
        keys = bits.reshape(n, n_tables, key_bits).astype(np.int64) @ weights  # (n, tables)
        rows = np.empty((n_tables, n), dtype=np.int32)
        offsets = np.empty((n_tables, (1 << key_bits) + 1), dtype=np.int32)
        for t in range(n_tables):
            rows[t] = np.argsort(keys[:, t], kind="stable")
            offsets[t, 0] = 0
            np.cumsum(np.bincount(keys[:, t], minlength=1 << key_bits), out=offsets[t, 1:])
        self._key_bits, self._table_rows, self._table_offsets = key_bits, rows, offsets

    def compact(self) -> None:
        if self._live is None:
            return
        keep = np.flatnonzero(self._live)
        self._x = np.ascontiguousarray(self._x[keep])
        self._sigs = np.ascontiguousarray(self._sigs[keep])
        self._reset_rows(keep)
        self._build_tables()

    def _search_rows(self, q: np.ndarray, k: int, params: LSHParams, mask: np.ndarray | None):
        proj = np.ascontiguousarray(q @ self._planes.T)
        rows = np.empty((q.shape[0], k), dtype=np.int64)
        dist = np.empty((q.shape[0], k), dtype=np.float32)
        internal = kernel_metric(self.metric)
        lsh_search(
            q,
            proj,
            signatures(proj),
            self._sigs,
            self._x,
            self._table_rows,
            self._table_offsets,
            self._key_bits,
            params.probes,
            params.candidates,
            k,
            internal,
            mask_or_empty(mask),
            rows,
            dist,
        )
        return rows, to_scores(dist, self.metric, internal)

    def _raw_vectors(self) -> np.ndarray:
        return self._x

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "planes": self._planes,
            "vectors": self._x,
            "signatures": self._sigs,
            "table_rows": self._table_rows,
            "table_offsets": self._table_offsets,
            **self._row_arrays(),
        }

    def state(self) -> dict[str, Any]:
        return {**super().state(), "key_bits": self._key_bits}

    @classmethod
    def from_arrays(cls, config, dim, metric, arrays, state: dict[str, Any]) -> LSH:
        index = cls(config, dim, metric)
        index._planes = arrays["planes"]
        index._x = arrays["vectors"]
        index._sigs = arrays["signatures"]
        index._table_rows = arrays["table_rows"]
        index._table_offsets = arrays["table_offsets"]
        index._key_bits = int(state["key_bits"])
        index._load_rows(arrays, state)
        return index
