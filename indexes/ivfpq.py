"""IVF-PQ: a k-means coarse quantizer with product-quantized residuals (Jégou et al. 2011).

Spec ``IVF{nlist},PQ{m}x{nbits}`` (e.g. ``IVF256,PQ10x8``), optionally followed
by ``,RFlat`` to also keep the raw vectors so that the best ADC candidates can
be re-scored exactly (FAISS calls this a refine step). Needs ``train``.

Search-time parameters: ``nprobe`` lists scanned per query, ``rerank`` ADC
candidates re-scored exactly (``RFlat`` indexes only), ``exact_fraction``.
Distances are split as described in :mod:`indexes.ivf_scan`: one lookup table
per query, and a per-row term computed the first time its list is probed and
kept in memory (4 bytes per vector, not saved).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from core.errors import ConfigError
from indexes.approximate import ApproximateIndex, FilteredParams, positive
from indexes.base import IndexConfig, as_matrix, normalize, register
from indexes.ivf_scan import RowTerms, ivfpq_scan_rows, ivfpq_search, merge_rows
from indexes.kernels import IP, L2, kernel_metric, mask_or_empty, rescore, to_scores
from indexes.kmeans import assign, kmeans, sample_rows
from indexes.pq import check_pq, pq_internal_metric
from indexes.quantizer import ProductQuantizer

# Most inverted lists a spec may ask for (FAISS uses up to 2**16 below a billion vectors).
MAX_NLIST = 65536
# Lloyd iterations of the coarse k-means, FAISS's IVF default (20 took twice as long for no
# recall on the scale curve, benchmarks/README.md).
COARSE_NITER = 10
_SEED = 1234


@dataclass(frozen=True)
class IVFPQConfig(IndexConfig):
    """Build parameters of :class:`IVFPQ`.

    Attributes:
        nlist: number of inverted lists (coarse k-means centroids).
        m: PQ sub-quantizers; must divide dim.
        nbits: bits per PQ code, 1..8.
        refine: keep raw vectors (``,RFlat``) to re-score candidates exactly.
    """

    pattern: ClassVar[re.Pattern[str]] = re.compile(r"IVF(\d+),PQ(\d+)x(\d+)(,RFlat)?")
    example: ClassVar[str] = "IVF256,PQ10x8"

    nlist: int = 256
    m: int = 8
    nbits: int = 8
    refine: bool = False

    def __post_init__(self) -> None:
        positive("IVF nlist", self.nlist, maximum=MAX_NLIST)
        check_pq(self.m, self.nbits)

    @classmethod
    def from_match(cls, match: re.Match[str]) -> IVFPQConfig:
        return cls(int(match.group(1)), int(match.group(2)), int(match.group(3)), match.group(4) is not None)

    def spec(self) -> str:
        return f"IVF{self.nlist},PQ{self.m}x{self.nbits}" + (",RFlat" if self.refine else "")

    def centroids(self) -> int:
        return max(self.nlist, 2**self.nbits)  # the coarse quantizer's lists, or the PQ codewords


@dataclass(frozen=True)
class IVFPQParams(FilteredParams):
    """Attributes:
    nprobe: inverted lists scanned per query (more: higher recall, slower).
    rerank: ADC candidates re-scored exactly from raw vectors; 0 disables it
        (needs an ``,RFlat`` index).
    """

    nprobe: int = 8
    rerank: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        positive("nprobe", self.nprobe)
        positive("rerank", self.rerank, minimum=0)


@register
class IVFPQ(ApproximateIndex):
    """Inverted file over product-quantized residuals, rows grouped by list."""

    config_cls = IVFPQConfig
    search_params_cls = IVFPQParams

    def __init__(self, config: IVFPQConfig, dim: int, metric: str = "cosine") -> None:
        super().__init__(config, dim, metric)
        self._pq = ProductQuantizer(self.dim, config.m, config.nbits)
        self._internal = pq_internal_metric(self.metric)
        self._centroids: np.ndarray | None = None
        self._norms: tuple[np.ndarray, np.ndarray] | None = None  # (the centroids they are of, norms)
        self._codes = np.empty((0, config.m), dtype=np.uint8)
        self._offsets = np.zeros(config.nlist + 1, dtype=np.int64)
        self._x = np.empty((0, self.dim), dtype=np.float32) if config.refine else None
        self._terms = RowTerms(0, config.nlist, self._internal)
        if config.refine:
            self.search_defaults = IVFPQParams(rerank=100)

    @property
    def is_trained(self) -> bool:
        return self._centroids is not None and self._pq.is_trained

    def train(self, x: np.ndarray) -> None:
        self._pq.check_dim()
        x = as_matrix(x, self.dim, "training vectors")
        if self.metric == "cosine":
            x = normalize(x)
        nlist = self.config.nlist
        if x.shape[0] < max(nlist, self._pq.ksub):
            raise ConfigError(
                f"{self.config.spec()} needs at least {max(nlist, self._pq.ksub)} training vectors, "
                f"got {x.shape[0]}; train on more data or lower nlist"
            )
        centroids = kmeans(x, nlist, niter=COARSE_NITER, seed=_SEED)
        # PQ learns from its own sample's residuals (as FAISS does), not from another pass over all rows.
        sample = sample_rows(x, self._pq.sample_size(), np.random.default_rng(_SEED))
        labels, _ = assign(sample, centroids)
        self._pq.train(sample - centroids[labels], seed=_SEED)
        self._centroids = centroids

    def empty_like(self) -> IVFPQ:
        index = super().empty_like()
        if self.is_trained:
            index._centroids = self._centroids
            index._pq.set_codebooks(self._pq.codebooks)
        return index

    def _row_lists(self) -> np.ndarray:
        """int64 (rows,) inverted list of every row."""
        return np.repeat(np.arange(self.config.nlist), np.diff(self._offsets))

    def add(self, x: np.ndarray, ids: np.ndarray | None = None) -> np.ndarray:
        x, ids = self._prepare_add(x, ids)
        labels, _ = assign(x, self._centroids)
        all_lists = np.concatenate([self._row_lists(), labels])
        order = np.argsort(all_lists, kind="stable")  # old rows stay ahead of new ones in a list
        self._codes = merge_rows(self._codes, self._pq.encode_residuals(x, self._centroids, labels), order)
        if self._x is not None:
            self._x = merge_rows(self._x, x, order)
        self._append_ids(ids)
        self._ids = self._ids[order]
        if self._live is not None:
            self._live = self._live[order]
        counts = np.bincount(all_lists, minlength=self.config.nlist)
        self._offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self._terms = RowTerms(self._ids.shape[0], self.config.nlist, self._internal)
        return ids

    def compact(self) -> None:
        if self._live is None:
            return
        keep = np.flatnonzero(self._live)
        counts = np.bincount(self._row_lists()[keep], minlength=self.config.nlist)
        self._offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self._codes = np.ascontiguousarray(self._codes[keep])
        if self._x is not None:
            self._x = np.ascontiguousarray(self._x[keep])
        self._reset_rows(keep)
        self._terms = RowTerms(self._ids.shape[0], self.config.nlist, self._internal)

    def _params(self, params: dict[str, Any]) -> IVFPQParams:
        p = super()._params(params)
        if p.rerank and self._x is None:
            raise ConfigError(f"rerank needs raw vectors: build the index as '{self.config.spec()},RFlat'")
        return p

    def _coarse(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-list terms float32 (n, nlist) of the distance, and the keys that rank lists for probing."""
        c = self._centroids
        dots = q @ c.T
        if self._internal == IP:
            return -dots, -dots
        near = self._centroid_norms()[None, :] - 2.0 * dots  # nearest centroids in L2 (unit q for cosine)
        if self._internal == L2:
            return near + np.einsum("ij,ij->i", q, q)[:, None], near
        return -dots, near

    def _centroid_norms(self) -> np.ndarray:
        """float32 (nlist,) squared norms of the centroids, computed once (recomputing them took
        most of a one-list query's time at 4096 lists)."""
        c = self._centroids
        cached = self._norms
        if cached is None or cached[0] is not c:
            cached = self._norms = (c, np.einsum("ij,ij->i", c, c))
        return cached[1]

    def _tables(self, q: np.ndarray) -> np.ndarray:
        """Per-query lookup tables float32 (n, m, ksub): ``-2<q_j, b>`` for L2, ``-<q_j, b>`` otherwise."""
        dots = self._pq.inner(q)
        return np.multiply(dots, -2.0 if self._internal == L2 else -1.0, out=dots)

    def _row_terms(self, lists: np.ndarray) -> np.ndarray:
        return self._terms.ensure(
            lists, self._centroids, self._pq.books_t, self._pq.book_norms, self._codes, self._offsets
        )

    def _search_rows(self, q: np.ndarray, k: int, params: IVFPQParams, mask: np.ndarray | None):
        terms, keys = self._coarse(q)
        nprobe = min(self._scaled_budget(params.nprobe, mask), self.config.nlist)
        if nprobe < self.config.nlist:
            probes = np.argpartition(keys, nprobe - 1, axis=1)[:, :nprobe]
        else:
            probes = np.broadcast_to(np.arange(self.config.nlist), keys.shape)
        probes = np.take_along_axis(probes, np.argsort(np.take_along_axis(keys, probes, axis=1), axis=1), axis=1)
        probes = np.ascontiguousarray(probes, dtype=np.int64)
        coarse = np.ascontiguousarray(np.take_along_axis(terms, probes, axis=1), dtype=np.float32)
        kk = max(k, params.rerank) if params.rerank else k
        rows = np.empty((q.shape[0], kk), dtype=np.int64)
        dist = np.empty((q.shape[0], kk), dtype=np.float32)
        row_terms = self._row_terms(probes)
        ivfpq_search(
            self._tables(q),
            coarse,
            probes,
            self._codes,
            self._offsets,
            row_terms,
            kk,
            self._internal,
            mask_or_empty(mask),
            rows,
            dist,
        )
        if kk > k:
            return self._refine(q, k, rows)
        return rows, to_scores(dist, self.metric, self._internal)

    def _refine(self, q: np.ndarray, k: int, candidates: np.ndarray):
        rows = np.empty((q.shape[0], k), dtype=np.int64)
        dist = np.empty((q.shape[0], k), dtype=np.float32)
        internal = kernel_metric(self.metric)
        rescore(q, self._x, candidates, k, internal, rows, dist)
        return rows, to_scores(dist, self.metric, internal)

    def _exact_rows(self, q: np.ndarray, k: int, rows: np.ndarray):
        if self._x is not None:
            return super()._exact_rows(q, k, rows)
        rows = rows.astype(np.int64)
        lists = self._row_lists()[rows]
        terms, _ = self._coarse(q)
        out_rows = np.empty((q.shape[0], k), dtype=np.int64)
        dist = np.empty((q.shape[0], k), dtype=np.float32)
        ivfpq_scan_rows(
            self._tables(q),
            np.ascontiguousarray(terms, dtype=np.float32),
            rows,
            lists,
            self._codes,
            self._row_terms(lists),
            k,
            self._internal,
            out_rows,
            dist,
        )
        return out_rows, to_scores(dist, self.metric, self._internal)

    def _raw_vectors(self) -> np.ndarray:
        return self._x

    def arrays(self) -> dict[str, np.ndarray]:
        self._require_trained()
        out = {
            "centroids": self._centroids,
            "codebooks": self._pq.codebooks,
            "codes": self._codes,
            "list_offsets": self._offsets,
            **self._row_arrays(),
        }
        if self._x is not None:
            out["vectors"] = self._x
        return out

    @classmethod
    def from_arrays(cls, config, dim, metric, arrays, state: dict[str, Any]) -> IVFPQ:
        index = cls(config, dim, metric)
        index._centroids = arrays["centroids"]
        index._pq.set_codebooks(arrays["codebooks"])
        index._codes = arrays["codes"]
        index._offsets = arrays["list_offsets"]
        if config.refine:
            index._x = arrays["vectors"]
        index._load_rows(arrays, state)
        index._terms = RowTerms(index._ids.shape[0], config.nlist, index._internal)
        return index
