"""PQ: product quantization with an exhaustive asymmetric-distance scan.

Spec ``PQ{m}x{nbits}`` (e.g. ``PQ10x8``): ``m`` sub-quantizers of ``2**nbits``
codewords, ``m * nbits / 8`` bytes per vector. Needs ``train``. Every query
scans all codes, so filters never hurt recall. Scores are asymmetric-distance
(ADC) estimates: for cosine, the cosine between the query and each vector's
reconstruction, whose inverse norms are computed on the first search and kept
in memory (4 bytes per vector, not saved).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from core.errors import ConfigError
from indexes.approximate import ApproximateIndex, positive
from indexes.base import IndexConfig, SearchParams, as_matrix, normalize, register
from indexes.kernels import COS, IP, L2, mask_or_empty, to_scores
from indexes.quantizer import ProductQuantizer, adc_scan, inverse_norms

_NO_ROWS = np.zeros(0, dtype=np.int64)
_NO_SCALE = np.zeros(0, dtype=np.float32)
# Most sub-quantizers a spec may ask for (m must also divide the dimension).
MAX_PQ_M = 1024


@dataclass(frozen=True)
class PQConfig(IndexConfig):
    """Build parameters of :class:`PQ`.

    Attributes:
        m: number of sub-quantizers (bytes per vector at nbits=8); must divide dim.
        nbits: bits per sub-quantizer code, 1..8 (``2**nbits`` codewords each).
    """

    pattern: ClassVar[re.Pattern[str]] = re.compile(r"PQ(\d+)x(\d+)")
    example: ClassVar[str] = "PQ10x8"

    m: int = 8
    nbits: int = 8

    def __post_init__(self) -> None:
        check_pq(self.m, self.nbits)

    @classmethod
    def from_match(cls, match: re.Match[str]) -> PQConfig:
        return cls(m=int(match.group(1)), nbits=int(match.group(2)))

    def spec(self) -> str:
        return f"PQ{self.m}x{self.nbits}"

    def centroids(self) -> int:
        return 2**self.nbits  # codewords per sub-quantizer


def check_pq(m: int, nbits: int) -> None:
    """Validate PQ parameters shared by PQ and IVF-PQ specs."""
    positive("PQ m", m, maximum=MAX_PQ_M)
    if not 1 <= nbits <= 8:
        raise ConfigError(f"PQ nbits must be between 1 and 8 (codes are bytes), got {nbits}")


def pq_internal_metric(metric: str) -> int:
    """Kernel metric of PQ tables.

    ``l2`` and ``ip`` use the usual ADC; cosine ranks by the cosine between the
    query and each reconstruction (``COS``): the vectors were unit length, so
    dividing out the reconstruction's norm removes pure noise.
    """
    return {"l2": L2, "ip": IP, "cosine": COS}[metric]


@register
class PQ(ApproximateIndex):
    """Exhaustive ADC search over product-quantized codes."""

    config_cls = PQConfig

    def __init__(self, config: PQConfig, dim: int, metric: str = "cosine") -> None:
        super().__init__(config, dim, metric)
        self._pq = ProductQuantizer(self.dim, config.m, config.nbits)
        self._codes = np.empty((0, config.m), dtype=np.uint8)
        self._inv_norms: np.ndarray | None = None  # cosine only: 1 / ||x'|| per row, in memory
        self._lock = threading.Lock()
        self._internal = pq_internal_metric(self.metric)

    @property
    def is_trained(self) -> bool:
        return self._pq.is_trained

    def train(self, x: np.ndarray) -> None:
        x = as_matrix(x, self.dim, "training vectors")
        self._pq.train(normalize(x) if self.metric == "cosine" else x)
        self._inv_norms = None

    def empty_like(self) -> PQ:
        index = super().empty_like()
        if self.is_trained:
            index._pq.set_codebooks(self._pq.codebooks)
        return index

    def add(self, x: np.ndarray, ids: np.ndarray | None = None) -> np.ndarray:
        x, ids = self._prepare_add(x, ids)
        self._codes = np.concatenate([self._codes, self._pq.encode(x)])
        self._inv_norms = None
        self._append_ids(ids)
        return ids

    def compact(self) -> None:
        if self._live is None:
            return
        keep = np.flatnonzero(self._live)
        self._codes = np.ascontiguousarray(self._codes[keep])
        self._inv_norms = None
        self._reset_rows(keep)

    def _inverse_norms(self) -> np.ndarray:
        """float32 (rows,) ``1 / ||x'||`` of every reconstruction, computed on first use, kept in memory."""
        with self._lock:
            if self._inv_norms is None:
                inv = np.empty(self._codes.shape[0], dtype=np.float32)
                inverse_norms(self._codes, self._pq.book_norms, inv)
                self._inv_norms = inv
            return self._inv_norms

    def _scan(self, q: np.ndarray, k: int, rows: np.ndarray, mask: np.ndarray | None):
        tables = self._pq.tables(q, self._internal)
        scale = self._inverse_norms() if self._internal == COS else _NO_SCALE
        out_rows = np.empty((q.shape[0], k), dtype=np.int64)
        out_dist = np.empty((q.shape[0], k), dtype=np.float32)
        adc_scan(self._codes, tables, scale, rows, k, mask_or_empty(mask), out_rows, out_dist)
        return out_rows, to_scores(out_dist, self.metric, self._internal)

    def _search_rows(self, q: np.ndarray, k: int, params: SearchParams, mask: np.ndarray | None):
        return self._scan(q, k, _NO_ROWS, mask)

    def _exact_rows(self, q: np.ndarray, k: int, rows: np.ndarray):
        # No raw vectors are kept: the best PQ can do is scan exactly the allowed codes.
        return self._scan(q, k, rows.astype(np.int64), None)

    def arrays(self) -> dict[str, np.ndarray]:
        self._require_trained()
        return {"codebooks": self._pq.codebooks, "codes": self._codes, **self._row_arrays()}

    @classmethod
    def from_arrays(cls, config, dim, metric, arrays, state: dict[str, Any]) -> PQ:
        index = cls(config, dim, metric)
        index._pq.set_codebooks(arrays["codebooks"])
        index._codes = arrays["codes"]
        index._load_rows(arrays, state)
        return index
