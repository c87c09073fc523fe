"""BM25Index: Okapi BM25 (Lucene's variant) over pre-tokenised documents.

The index never tokenises: documents and queries come in as sequences of
terms, produced by the caller's analyzer (its name is kept in ``analyzer`` and
saved, so queries can be analysed the way the documents were). Scores follow
Lucene's BM25 with the classic ``(k1 + 1)`` numerator::

    idf(t)    = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))
    score(d)  = sum over query terms t of idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))

Lucene 8+ and ``bm25s`` drop the constant ``(k1 + 1)``: their scores are
these divided by ``k1 + 1``, with the same ranking. A query term written twice
counts twice (two clauses in Lucene, two lookups in bm25s); its postings are read
once, with the count as a weight, so a query's cost grows with its distinct terms,
not its length. A query keeps its :data:`MAX_QUERY_TERMS` weightiest distinct terms
(count * idf; Lucene's default clause limit is the same 1,024), which bounds what a
pasted page of text costs. A document with no query term scores nothing and is never
returned.

Storage is a set of immutable segments (:mod:`indexes.lexical.segments`) plus a
vocabulary and a sorted array of tombstoned ids. ``N``, ``avgdl`` and ``df``
count every stored row, tombstoned ones included, until a merge or
:meth:`BM25Index.compact` drops them, as in Lucene: keeping the three on the
same set of documents needs no per-term bookkeeping of deletions, and after a
compaction scores equal those of an index built from the live documents alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import ConfigError, InvalidInputError
from indexes.base import Allow, SearchResult, allow_mask, as_ids, empty_result
from indexes.lexical.kernels import score_postings
from indexes.lexical.segments import Segment, build_segment, merge_segments
from indexes.lexical.vocab import Vocabulary
from indexes.merge_policy import TieredMergePolicy

# Segments merge by the tiered policy the store's vector runs use too (indexes.merge_policy):
# past MAX_SEGMENTS the smallest ones merge, bounding the per-segment cost of a search.
MAX_SEGMENTS = 16
MERGES = TieredMergePolicy(max_parts=MAX_SEGMENTS)
# Distinct terms a query is scored on; past it the ones of least count * idf are dropped.
# A 4,000-character paragraph has about 250, a 100,000-character page about 2,200.
MAX_QUERY_TERMS = 1024


def check_terms(batch: Sequence[Sequence[str]], what: str) -> Sequence[Sequence[str]]:
    """Refuse the common mistake of passing raw strings where lists of terms are expected."""
    if isinstance(batch, str) or any(isinstance(item, str) for item in batch):
        raise InvalidInputError(
            f"{what} must be a list of term lists, one per {what[:-1]}, not strings: "
            "analyse text first (for example with ingest.lexical.Analyzer.terms_batch)"
        )
    return batch


@dataclass(frozen=True)
class _Stats:
    """What searches read, computed once per state of the index (a snapshot for concurrent readers)."""

    idf: np.ndarray  # float64 (V,)
    bases: list[int]  # first row of each segment in the dense accumulator
    norms: list[np.ndarray]  # float32 (n_s,) k1 * (1 - b + b * dl / avgdl) per segment
    ids: np.ndarray  # int64 (N,) id of every stored row
    dead: np.ndarray | None  # bool (N,) tombstoned rows, None when there are none


class BM25Index:
    """BM25 over documents given as term lists, under int64 ids chosen by the caller.

    Args:
        k1: term-frequency saturation (0 makes scoring binary); Anserini's BEIR default 0.9.
        b: length normalisation in [0, 1] (0: none, 1: full); Anserini's BEIR default 0.4.
        analyzer: name of the analyzer that made the terms, saved with the index.
    """

    def __init__(self, k1: float = 0.9, b: float = 0.4, analyzer: str | None = None) -> None:
        if not (math.isfinite(k1) and k1 >= 0):
            raise ConfigError(f"k1 must be a finite number >= 0 (typically 0.9-2.0), got {k1}")
        if not (math.isfinite(b) and 0 <= b <= 1):
            raise ConfigError(f"b must lie in [0, 1] (typically 0.4-0.75), got {b}")
        self.k1, self.b, self.analyzer = float(k1), float(b), analyzer
        self._vocab = Vocabulary()
        # Where a loaded index came from (unchanged segment and vocabulary files are linked on save).
        self._source: Path | None = None
        self._source_stamp: tuple[int, int, int] | None = None
        self._vocab_source: Path | None = None  # None once terms were added after loading
        self._segments: list[Segment] = []
        self._deleted = np.empty(0, dtype=np.int64)  # sorted ids of tombstoned rows
        self._next_segment = 0
        self._stats: _Stats | None = None

    # -- building ---------------------------------------------------------
    def add(self, docs: Sequence[Sequence[str]], ids: np.ndarray) -> np.ndarray:
        """Index documents (one term list each) under int64 (n,) unique ids; return the ids."""
        check_terms(docs, "documents")
        ids = as_ids(ids, len(docs))
        if np.unique(ids).size != ids.size:
            raise InvalidInputError("ids must be unique within a batch; each document needs its own id")
        clash = ids[np.isin(ids, self._stored_ids())]
        if clash.size:
            raise InvalidInputError(
                f"ids {clash[:5].tolist()} are already in the index (deleted ids stay reserved until "
                "compact()); delete and compact before reusing an id"
            )
        if not len(docs):
            return ids
        n_terms = len(self._vocab)
        self._segments.append(build_segment(self._new_name(), docs, ids, self._vocab))
        if len(self._vocab) != n_terms:
            self._vocab_source = None
        self._merge_tiers()
        self._stats = None
        return ids

    def delete(self, ids: Iterable[int]) -> int:
        """Tombstone documents by id; return how many live ones were found. They are never returned."""
        wanted = np.unique(np.fromiter((int(i) for i in ids), dtype=np.int64))
        found = np.setdiff1d(wanted[np.isin(wanted, self._stored_ids())], self._deleted)
        if found.size:
            self._deleted = np.union1d(self._deleted, found)
            self._stats = None
        return int(found.size)

    def compact(self) -> None:
        """Merge every segment into one without the tombstoned documents (N, avgdl, df then exclude them)."""
        if len(self._segments) > 1 or (self._segments and self._deleted.size):
            self._merge(list(range(len(self._segments))))

    def _merge_tiers(self) -> None:
        while (plan := MERGES.plan([seg.n_docs for seg in self._segments])) is not None:
            self._merge(plan)

    def _merge(self, positions: list[int]) -> None:
        """Replace the segments at ``positions`` by their merge, dropping their tombstoned rows."""
        chosen = [self._segments[i] for i in positions]
        merged = merge_segments(self._new_name(), chosen, self._deleted, len(self._vocab))
        gone = np.concatenate([s.ids for s in chosen])
        self._deleted = self._deleted[~np.isin(self._deleted, gone)]
        drop = set(positions)
        rest = [s for i, s in enumerate(self._segments) if i not in drop]
        self._segments = rest + ([merged] if merged.n_docs else [])
        self._stats = None

    def _new_name(self) -> str:
        self._next_segment += 1
        return f"s{self._next_segment:06d}"

    def _stored_ids(self) -> np.ndarray:
        if not self._segments:
            return np.empty(0, dtype=np.int64)
        return np.concatenate([s.ids for s in self._segments])

    def ids(self) -> np.ndarray:
        """The int64 ids of the documents it holds (tombstoned ones left out), sorted."""
        return np.setdiff1d(self._stored_ids(), self._deleted)

    # -- querying ---------------------------------------------------------
    def __len__(self) -> int:
        return self.n_stored - int(self._deleted.size)

    @property
    def n_stored(self) -> int:
        """Rows held by the segments, tombstoned ones included (the ``N`` of idf until compaction)."""
        return sum(s.n_docs for s in self._segments)

    def _prepare(self) -> _Stats:
        stats = self._stats
        if stats is not None:
            return stats
        n = self.n_stored
        df = np.zeros(len(self._vocab), dtype=np.float64)
        total = 0
        for seg in self._segments:
            df[seg.terms] += seg.df()
            total += int(np.asarray(seg.lengths, dtype=np.int64).sum())
        avgdl = total / n if total else 1.0
        norms = [
            (self.k1 * (1.0 - self.b + self.b * np.asarray(s.lengths, dtype=np.float64) / avgdl)).astype(np.float32)
            for s in self._segments
        ]
        bases = np.concatenate([[0], np.cumsum([s.n_docs for s in self._segments])]).astype(np.int64)
        ids = self._stored_ids()
        dead = np.isin(ids, self._deleted) if self._deleted.size else None
        idf = np.log1p((n - df + 0.5) / (df + 0.5))
        stats = _Stats(idf, [int(x) for x in bases[:-1]], norms, ids, dead)
        self._stats = stats
        return stats

    def search(self, queries: Sequence[Sequence[str]], k: int, allow: Allow = None) -> SearchResult:
        """The k best documents for each query, best first.

        Args:
            queries: one sequence of terms per query (terms outside the vocabulary are ignored;
                of the rest, the :data:`MAX_QUERY_TERMS` distinct ones of largest count * idf count).
            k: results per query; fewer matching documents are padded with id -1, score -inf.
            allow: optional filter: an iterable of allowed ids or a boolean mask indexed by id.
        Returns:
            ids int64 (n, k) and scores float32 (n, k).
        """
        check_terms(queries, "queries")
        if int(k) < 1:
            raise ConfigError(f"k must be at least 1, got {k}")
        k = int(k)
        out = empty_result(len(queries), k)
        if not self._segments:
            return out
        stats = self._prepare()
        mask = allow_mask(allow, stats.ids)
        if stats.dead is not None:
            mask = ~stats.dead if mask is None else (mask & ~stats.dead)
        for qi, terms in enumerate(queries):
            tids, weights = self._query_weights(terms, stats.idf)
            if not tids.size:
                continue
            acc = np.zeros(stats.ids.shape[0], dtype=np.float32)  # (N,) dense scores of every row
            for seg, base, norm in zip(self._segments, stats.bases, stats.norms):
                score_postings(tids, weights, seg.terms, seg.indptr, seg.rows, seg.tf, norm, acc, base)
            rows = np.flatnonzero(acc)  # idf > 0 and tf > 0, so matching rows are exactly the nonzero ones
            if mask is not None:
                rows = rows[mask[rows]]
            vals = acc[rows]
            if rows.size > k:
                part = np.argpartition(-vals, k - 1)[:k]
                rows, vals = rows[part], vals[part]
            order = np.lexsort((rows, -vals))  # best first; ties by storage order
            out.ids[qi, : rows.size] = stats.ids[rows[order]]
            out.scores[qi, : rows.size] = vals[order]
        return out

    def _query_weights(self, terms: Sequence[str], idf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A query's distinct known term ids int64 (m,) and their weights count * idf * (k1 + 1) float64 (m,).

        At most :data:`MAX_QUERY_TERMS` of them: the weightiest (ties: the term first indexed).
        """
        tids = self._vocab.lookup(terms)
        tids, counts = np.unique(tids[tids >= 0], return_counts=True)
        weights = idf[tids] * counts * (self.k1 + 1.0)
        if tids.size > MAX_QUERY_TERMS:
            keep = np.sort(np.argsort(-weights, kind="stable")[:MAX_QUERY_TERMS])
            tids, weights = tids[keep], weights[keep]
        return tids, weights

    # -- persistence ------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the index to directory ``path``: meta.json plus one .npy per array (see storage)."""
        from indexes.lexical.storage import save_bm25

        save_bm25(self, Path(path))

    @classmethod
    def load(cls, path: str | Path, mmap: bool = True) -> BM25Index:
        """Open a saved index; with ``mmap=True`` arrays stay on disk until a search touches them."""
        from indexes.lexical.storage import load_bm25

        return load_bm25(cls, Path(path), mmap)

    def __repr__(self) -> str:
        return f"BM25Index(k1={self.k1}, b={self.b}, n={len(self)}, segments={len(self._segments)})"
