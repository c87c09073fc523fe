"""Native vector indexes (numpy/numba only).

``create(spec, dim, metric)`` builds an empty index from a spec string,
``load(path, mmap=True)`` opens a saved one. Every type implements
:class:`indexes.base.Index`.
"""

from __future__ import annotations

from indexes import flat as _flat  # noqa: F401  (registers Flat)
from indexes.base import METRICS, Index, IndexConfig, SearchParams, SearchResult, index_class, parse_spec
from indexes.io import load_index, read_meta, save_index


def create(spec: str, dim: int, metric: str = "cosine") -> Index:
    """Build an empty index of the type named by ``spec`` (e.g. ``"Flat"``, ``"HNSW32"``)."""
    config = parse_spec(spec)
    return index_class(config)(config, dim, metric)


def load(path: str, mmap: bool = True) -> Index:
    """Open a saved index directory; see :mod:`indexes.io`."""
    return load_index(path, mmap=mmap)


__all__ = [
    "METRICS",
    "Index",
    "IndexConfig",
    "SearchParams",
    "SearchResult",
    "create",
    "load",
    "parse_spec",
    "read_meta",
    "save_index",
]
