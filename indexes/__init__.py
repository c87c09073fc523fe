"""Native vector indexes (numpy/numba only).

``create(spec, dim, metric)`` builds an empty index from a spec string,
``load(path, mmap=True)`` opens a saved one. Every type implements
:class:`indexes.base.Index`:

========================  ============================================  =========================
spec                      type                                          search-time parameters
========================  ============================================  =========================
``Flat``                  exact brute force (ground truth)              none
``LSH256``                SimHash tables, multi-probe, exact re-score   probes, candidates
``KD32``                  KD-tree, best-first search                    max_leaves
``PQ10x8``                product quantization, ADC scan                none
``IVF256,PQ10x8[,RFlat]`` inverted file over PQ residuals               nprobe, rerank
``HNSW32``                hierarchical navigable small world            ef_search
========================  ============================================  =========================

Every approximate type also takes ``exact_fraction`` (filters letting through at
most this fraction of the vectors are answered by an exact scan).

The types (and numba) load on first use of a name below, so that importing
:mod:`indexes.spec` to check a spec string (``check_spec``, what the settings do)
costs no more than a regular expression.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from indexes.spec import check_spec, register_types

if TYPE_CHECKING:
    from indexes.base import Index

# name -> the module defining it; every one registers the types first
_EXPORTS = {
    "METRICS": "indexes.base",
    "Index": "indexes.base",
    "IndexConfig": "indexes.base",
    "SearchParams": "indexes.base",
    "SearchResult": "indexes.base",
    "index_class": "indexes.base",
    "parse_spec": "indexes.base",
    "load_index": "indexes.io",
    "read_meta": "indexes.io",
    "save_index": "indexes.io",
}


def __getattr__(name: str) -> Any:
    register_types()
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value
    if name in globals():  # a submodule the types imported (``indexes.base``)
        return globals()[name]
    raise AttributeError(f"module 'indexes' has no attribute {name!r}")


def create(spec: str, dim: int, metric: str = "cosine") -> Index:
    """Build an empty index of the type named by ``spec`` (e.g. ``"Flat"``, ``"HNSW32"``)."""
    from indexes.base import index_class, parse_spec

    register_types()
    config = parse_spec(spec)
    return index_class(config)(config, dim, metric)


def load(path: str, mmap: bool = True) -> Index:
    """Open a saved index directory; see :mod:`indexes.io`."""
    from indexes.io import load_index

    register_types()
    return load_index(path, mmap=mmap)


__all__ = [
    "METRICS",
    "Index",
    "IndexConfig",
    "SearchParams",
    "SearchResult",
    "check_spec",
    "create",
    "load",
    "parse_spec",
    "read_meta",
    "save_index",
]
