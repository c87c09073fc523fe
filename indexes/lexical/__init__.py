"""Native lexical retrieval: BM25 over pre-tokenised documents (numpy/numba only).

``BM25Index(k1, b)`` takes documents and queries as term lists (the caller's
analyzer, e.g. :class:`ingest.lexical.Analyzer`, makes them), and has the verbs
of the vector indexes: ``add(docs, ids)``, ``delete(ids)``, ``compact()``,
``search(queries, k, allow=...)``, ``len``, ``save(path)``,
``BM25Index.load(path, mmap=True)``.
"""

from __future__ import annotations

from indexes.lexical.bm25 import BM25Index
from indexes.lexical.storage import FORMAT_NAME, FORMAT_VERSION, read_bm25_meta

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "BM25Index", "read_bm25_meta"]
