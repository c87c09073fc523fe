"""HNSW index: numba kernels for level searches (``graph``), insertion (``build``), queries (``search``)
and compaction (``repair``); batch searches over the cores (``batch``); the parameters (``config``);
the index class in ``index``."""

from indexes.hnsw.index import HNSW, HNSWConfig, HNSWParams

__all__ = ["HNSW", "HNSWConfig", "HNSWParams"]
