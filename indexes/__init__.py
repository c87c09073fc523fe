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
"""

from __future__ import annotations

from indexes import flat as _flat  # noqa: F401  (each import registers its type)
from indexes import hnsw as _hnsw  # noqa: F401
from indexes import ivfpq as _ivfpq  # noqa: F401
from indexes import kdtree as _kdtree  # noqa: F401
from indexes import lsh as _lsh  # noqa: F401
from indexes import pq as _pq  # noqa: F401
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
