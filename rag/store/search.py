"""Searching a collection: dense (its vector store) and BM25 (its lexical index), and the catalog rows of
the ids found. A part of :class:`rag.store.Store` (a mixin; the host holds ``catalog``, ``vectors()``,
the write lock and the lexical-index upkeep)."""

from __future__ import annotations

import numpy as np

from indexes import SearchResult
from indexes.base import Allow
from rag.store.catalog import Collection
from rag.store.records import StoredChunk, stored_chunk


class StoreSearch:
    def search(self, collection: Collection, query_vectors: np.ndarray, k: int, **params) -> list[list[StoredChunk]]:
        """Top-k chunks for each float32 (n, dim) query vector, best first."""
        return self.stored_chunks(self.search_ids(collection, query_vectors, k, **params))

    def search_ids(self, collection: Collection, query_vectors: np.ndarray, k: int, **params) -> SearchResult:
        """Top-k chunk ids and scores for each float32 (n, dim) query vector; no catalog read."""
        return self.vectors(collection).search(query_vectors, k, **params)

    def search_text(
        self, collection: Collection, queries: list[str], k: int, allow: Allow = None
    ) -> list[list[StoredChunk]]:
        """Top-k chunks for each text query by BM25, best first (``score`` is the BM25 score)."""
        return self.stored_chunks(self.search_text_ids(collection, queries, k, allow))

    def search_text_ids(self, collection: Collection, queries: list[str], k: int, allow: Allow = None) -> SearchResult:
        """Top-k chunk ids and BM25 scores for each text query, best first; no catalog read.

        Queries are analysed with the analyzer named in the collection's manifest.
        A collection published before lexical indexes existed gets its index built
        here on first use, unless :meth:`recover` did it at start-up.

        Args:
            queries: query texts.
            k: results per query; chunks sharing no term with a query are not returned.
            allow: optional filter: allowed chunk ids, or a boolean mask indexed by chunk id.
        """
        vs = self.vectors(collection)
        if not vs.has_lexical and vs.stored_count():
            with self._write_lock:
                self._ensure_lexical(collection, vs)
        terms = self._analyzer_of(vs).terms_batch(queries)
        return vs.search_text(terms, k, allow=allow)

    def stored_chunks(self, result: SearchResult) -> list[list[StoredChunk]]:
        """The catalog rows of a search result's ids, per query, in result order, in one catalog read.

        Ids without a row (-1 padding, or a vector whose catalog rows never committed) are skipped.
        """
        wanted = sorted({int(i) for i in result.ids.ravel() if i >= 0})
        rows = self.catalog.chunks_by_id(wanted)
        out = []
        for ids, scores in zip(result.ids, result.scores):
            out.append([stored_chunk(rows[int(c)], float(s)) for c, s in zip(ids, scores) if int(c) in rows])
        return out
