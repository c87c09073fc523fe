"""The one interface every vector index implements, and the spec registry.

Contract (shared by Flat, LSH, KD, PQ, IVF-PQ, HNSW):

* vectors come in as float32 batches of shape (n, dim); ids are int64 and
  chosen by the caller (or assigned sequentially from 0 when omitted);
* ``search(q, k)`` returns a :class:`SearchResult` with ``ids`` int64 (n, k)
  and ``scores`` float32 (n, k), best first, padded with id -1 and score
  -inf where fewer than k vectors qualify;
* scores are "higher is better" for every metric: cosine similarity, inner
  product, or the *negative* squared L2 distance;
* build-time parameters live in the frozen config parsed from the spec
  string; search-time parameters are keyword arguments of ``search`` and
  unknown ones raise :class:`ConfigError`.
"""

from __future__ import annotations

import dataclasses
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from core.errors import ConfigError
from indexes.errors import DimensionMismatchError, NotTrainedError
from indexes.kmeans import MAX_POINTS_PER_CENTROID, MIN_POINTS_PER_CENTROID
from indexes.spec import FORMS, register_types

METRICS = ("cosine", "ip", "l2")

# Allowed-id filters: a collection of ids, or a boolean mask indexed by id.
Allow = Iterable[int] | np.ndarray | None


@dataclass(frozen=True)
class SearchResult:
    """Nearest neighbours of a batch of queries.

    Attributes:
        ids: int64 (n, k), -1 where fewer than k results exist.
        scores: float32 (n, k), higher is better, -inf for padding.
    """

    ids: np.ndarray
    scores: np.ndarray

    def __iter__(self):  # lets ``ids, scores = result`` work without tuple results
        return iter((self.ids, self.scores))


@dataclass(frozen=True)
class IndexConfig(ABC):
    """Build-time parameters of one index type, parsed from a spec string.

    Subclasses set ``pattern`` (a regex matched against the whole spec) and
    implement ``from_match`` and ``spec`` so that ``parse(c.spec()) == c``.
    """

    pattern: ClassVar[re.Pattern[str]]
    example: ClassVar[str]

    @classmethod
    def from_match(cls, match: re.Match[str]) -> IndexConfig:
        return cls()

    @abstractmethod
    def spec(self) -> str:
        """The canonical spec string; ``parse_spec(c.spec()) == c``."""

    def centroids(self) -> int:
        """The most centroids one k-means of this index's training learns; 0: it needs no training."""
        return 0

    def training_bounds(self) -> TrainingBounds:
        """How many vectors ``train`` needs and how many it uses (more are sampled down by the caller)."""
        c = self.centroids()
        return TrainingBounds(MIN_POINTS_PER_CENTROID * c, MAX_POINTS_PER_CENTROID * c)


@dataclass(frozen=True)
class TrainingBounds:
    """Vectors a learned index trains on: at least ``min_points``, at most ``max_points`` (0, 0: untrained)."""

    min_points: int
    max_points: int


@dataclass(frozen=True)
class SearchParams:
    """Search-time parameters; each index type subclasses this with its own fields."""

    @classmethod
    def build(cls, defaults: SearchParams | None = None, **params: Any) -> SearchParams:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(params) - names)
        if unknown:
            known = ", ".join(sorted(names)) or "none"
            raise ConfigError(f"unknown search parameter(s) {unknown}; this index takes: {known}")
        base = defaults if defaults is not None else cls()
        return dataclasses.replace(base, **params)


_REGISTRY: dict[str, type[Index]] = {}


def register(cls: type[Index]) -> type[Index]:
    """Class decorator: make an index type reachable from spec strings and saved metadata."""
    _REGISTRY[cls.__name__] = cls
    return cls


def registered() -> dict[str, type[Index]]:
    register_types()  # the package imports its types on first use: a caller of this module may come first
    return dict(_REGISTRY)


def parse_spec(spec: str) -> IndexConfig:
    """Parse a spec string such as ``"HNSW32"`` or ``"IVF256,PQ48x8"`` into its config."""
    register_types()
    text = spec.strip()
    for cls in _REGISTRY.values():
        match = cls.config_cls.pattern.fullmatch(text)
        if match:
            return cls.config_cls.from_match(match)
    examples = ", ".join(form.example for form in FORMS)  # the package's registration order, whoever came first
    raise ConfigError(f"unknown index spec {spec!r}; use one of the forms: {examples}")


def index_class(config: IndexConfig) -> type[Index]:
    register_types()
    for cls in _REGISTRY.values():
        if isinstance(config, cls.config_cls):
            return cls
    raise ConfigError(f"no index type is registered for config {config!r}")


def check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise ConfigError(f"unknown metric {metric!r}; use one of {', '.join(METRICS)}")
    return metric


def as_matrix(x: Any, dim: int, what: str = "vectors") -> np.ndarray:
    """Return ``x`` as a C-contiguous float32 (n, dim) array, or raise a clear error."""
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise DimensionMismatchError(f"{what} must be a 2-D array (n, {dim}), got shape {arr.shape}")
    if arr.shape[1] != dim:
        raise DimensionMismatchError(f"{what} have dimension {arr.shape[1]} but the index was built for {dim}")
    if not np.isfinite(arr).all():
        raise ConfigError(f"{what} contain NaN or infinite values; clean them before adding or searching")
    return np.ascontiguousarray(arr)


def normalize(x: np.ndarray) -> np.ndarray:
    """L2-normalise rows (zero rows stay zero)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (x / norms).astype(np.float32, copy=False)


def as_ids(ids: Any, n: int) -> np.ndarray:
    arr = np.asarray(ids, dtype=np.int64).reshape(-1)
    if arr.shape[0] != n:
        raise ConfigError(f"got {arr.shape[0]} ids for {n} vectors; pass one id per vector")
    if (arr < 0).any():
        raise ConfigError("ids must be non-negative (-1 marks padding in results)")
    return arr


def allow_mask(allow: Allow, ids: np.ndarray) -> np.ndarray | None:
    """Turn an allow filter into a boolean mask over ``ids`` (the index's stored ids).

    Args:
        allow: None (everything allowed), an iterable of allowed ids, or a
            boolean numpy mask indexed by id (``mask[id]`` is True when allowed).
        ids: int64 (n,) ids held by the index, in storage order.

    Returns:
        bool (n,) mask, or None when nothing is filtered.
    """
    if allow is None:
        return None
    if isinstance(allow, np.ndarray) and allow.dtype == np.bool_:
        inside = ids < allow.shape[0]
        mask = np.zeros(ids.shape[0], dtype=bool)
        mask[inside] = allow[ids[inside]]
        return mask
    if not isinstance(allow, np.ndarray):
        allow = np.fromiter((int(i) for i in allow), dtype=np.int64)
    return np.isin(ids, allow.astype(np.int64, copy=False))


def empty_result(n: int, k: int) -> SearchResult:
    return SearchResult(
        ids=np.full((n, k), -1, dtype=np.int64),
        scores=np.full((n, k), -np.inf, dtype=np.float32),
    )


class Index(ABC):
    """Base class of every vector index. See the module docstring for the contract."""

    config_cls: ClassVar[type[IndexConfig]]
    search_params_cls: ClassVar[type[SearchParams]] = SearchParams

    def __init__(self, config: IndexConfig, dim: int, metric: str = "cosine") -> None:
        if dim <= 0:
            raise ConfigError(f"dim must be positive, got {dim}")
        self.config = config
        self.dim = int(dim)
        self.metric = check_metric(metric)
        self.search_defaults = self.search_params_cls()

    # -- building ---------------------------------------------------------
    @property
    def is_trained(self) -> bool:
        """True when ``add`` may be called (types without training are always trained)."""
        return True

    def train(self, x: np.ndarray) -> None:
        """Learn codebooks or partitions from float32 (n, dim) samples; no-op where not needed."""
        as_matrix(x, self.dim, "training vectors")

    def empty_like(self) -> Index:
        """A new empty index of the same type, config and search defaults, trained as this one is.

        Learned types (PQ, IVF-PQ) share their codebooks and centroids with the copy, so
        vectors added to it are encoded as this index encodes them and the two indexes'
        scores are comparable: an append adds a small index beside a large one without
        training again or rewriting the large one.
        """
        index = type(self)(self.config, self.dim, self.metric)
        index.search_defaults = self.search_defaults
        return index

    def _require_trained(self) -> None:
        if not self.is_trained:
            raise NotTrainedError(
                f"{self.config.spec()} must be trained before add: call index.train(x) "
                "with representative vectors first"
            )

    @abstractmethod
    def add(self, x: np.ndarray, ids: np.ndarray | None = None) -> np.ndarray:
        """Add float32 (n, dim) vectors under int64 (n,) ids; return the ids used."""

    @abstractmethod
    def delete(self, ids: Iterable[int]) -> int:
        """Remove vectors by id; return how many were present. Deleted ids never appear in results."""

    def compact(self) -> None:  # noqa: B027  (a no-op hook by design)
        """Reclaim the space of deleted vectors (types that tombstone override this)."""

    # -- querying ---------------------------------------------------------
    @abstractmethod
    def search(self, q: np.ndarray, k: int, *, allow: Allow = None, **params: Any) -> SearchResult:
        """Find the k best vectors for each float32 (n, dim) query.

        Args:
            q: float32 (n, dim) queries (a single (dim,) vector is accepted).
            k: results per query; fewer existing vectors are padded with -1.
            allow: optional filter of allowed ids (iterable of ids or bool mask by id).
            **params: search-time parameters of the index type.
        """

    @abstractmethod
    def __len__(self) -> int:
        """Number of live (not deleted) vectors."""

    # -- persistence ------------------------------------------------------
    @abstractmethod
    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays that make up the index, one ``.npy`` file each when saved."""

    def state(self) -> dict[str, Any]:
        """JSON-serialisable scalars saved in meta.json besides the arrays."""
        return {}

    @classmethod
    @abstractmethod
    def from_arrays(
        cls, config: IndexConfig, dim: int, metric: str, arrays: dict[str, np.ndarray], state: dict[str, Any]
    ) -> Index:
        """Rebuild an index from saved (possibly memory-mapped, read-only) arrays."""

    def save(self, path: str) -> None:
        """Write the index to directory ``path`` (meta.json plus one .npy per array)."""
        from indexes.io import save_index

        save_index(self, path)

    def set_search_defaults(self, **params: Any) -> None:
        """Change the search-time parameters used when ``search`` does not pass them.

        They are saved with the index, e.g. ``index.set_search_defaults(ef_search=128)``.
        """
        self.search_defaults = self._params(params)

    def _params(self, params: dict[str, Any]) -> SearchParams:
        return self.search_params_cls.build(self.search_defaults, **params)

    def _check_k(self, k: int) -> int:
        if int(k) < 1:
            raise ConfigError(f"k must be at least 1, got {k}")
        return int(k)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config.spec()!r}, dim={self.dim}, metric={self.metric!r}, n={len(self)})"
