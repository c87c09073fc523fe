"""Immutable segments of a BM25 index: CSR postings of a batch of documents.

A segment is never changed once built (as in Lucene): an add builds a new
one, deletions are tombstones held by the index, and merging writes a new
segment from old ones, leaving out tombstoned rows. Its arrays, one ``.npy``
each, named ``{name}.{array}.npy``:

* ``terms`` int32 (U,): the sorted ids of the terms the segment holds;
* ``indptr`` int64 (U + 1,): postings of ``terms[u]`` are ``[indptr[u], indptr[u + 1])``;
* ``rows`` int32 (P,): the document (row within the segment) of each posting;
* ``tf`` float32 (P,): its term frequency (exact up to 2**24);
* ``lengths`` int32 (n,): document lengths in terms, repeats included;
* ``ids`` int64 (n,): the caller's id of each row.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexes.lexical.kernels import count_postings, csr_by_term, postings_to_coo
from indexes.lexical.vocab import Vocabulary

ARRAYS = ("terms", "indptr", "rows", "tf", "lengths", "ids")


@dataclass(frozen=True)
class Segment:
    """One batch of documents; ``source`` is the directory its unchanged arrays were loaded from."""

    name: str
    terms: np.ndarray
    indptr: np.ndarray
    rows: np.ndarray
    tf: np.ndarray
    lengths: np.ndarray
    ids: np.ndarray
    source: Path | None = None

    @property
    def n_docs(self) -> int:
        return int(self.ids.shape[0])

    @property
    def n_terms(self) -> int:
        """How many distinct terms the segment holds."""
        return int(self.terms.shape[0])

    def df(self) -> np.ndarray:
        """int64 (U,) how many of the segment's documents hold each of ``terms``."""
        return np.diff(self.indptr)

    def arrays(self) -> dict[str, np.ndarray]:
        return {f"{self.name}.{a}": getattr(self, a) for a in ARRAYS}


def build_segment(name: str, docs: Sequence[Sequence[str]], ids: np.ndarray, vocab: Vocabulary) -> Segment:
    """Index a batch of tokenised documents, adding their new terms to ``vocab``.

    Args:
        name: the segment's file stem.
        docs: one sequence of terms per document.
        ids: int64 (n,) the documents' ids.
        vocab: the index's vocabulary (grown in place).
    """
    local: dict[str, int] = {}  # batch-local ids: one dict probe per token, the costly Python part
    n_tokens = sum(map(len, docs))
    tokens = np.fromiter((local.setdefault(t, len(local)) for doc in docs for t in doc), dtype=np.int32, count=n_tokens)
    to_global = vocab.add(local).astype(np.int32)  # dicts keep insertion order: local id i -> to_global[i]
    tokens = to_global[tokens] if n_tokens else tokens
    lengths = np.fromiter(map(len, docs), dtype=np.int64, count=len(docs))
    doc_starts = np.zeros(len(docs) + 1, dtype=np.int64)
    np.cumsum(lengths, out=doc_starts[1:])
    terms, rows, tf = count_postings(tokens, doc_starts, len(vocab))
    held, indptr, rows, tf = csr_by_term(terms, rows, tf, len(vocab))
    return Segment(name, held, indptr, rows, tf, lengths.astype(np.int32), np.ascontiguousarray(ids, dtype=np.int64))


def merge_segments(name: str, segments: Sequence[Segment], dead: np.ndarray, n_terms: int) -> Segment:
    """One segment holding the rows of ``segments`` (in order) whose ids are not in ``dead``.

    Args:
        name: the new segment's file stem.
        segments: the segments to merge.
        dead: int64 sorted ids of tombstoned documents, left out.
        n_terms: the vocabulary's size (every term id is below it).
    """
    parts, lengths, ids, base = [], [], [], 0
    for seg in segments:
        keep = ~np.isin(seg.ids, dead)
        new_row = np.where(keep, np.cumsum(keep) - 1 + base, -1).astype(np.int64)
        parts.append(postings_to_coo(seg.terms, seg.indptr, seg.rows, seg.tf, new_row))
        lengths.append(np.asarray(seg.lengths)[keep])
        ids.append(np.asarray(seg.ids)[keep])
        base += int(keep.sum())
    terms, rows, tf = (np.concatenate([p[i] for p in parts]) for i in range(3))
    # Input is segment-major and row-ordered within a term, so the stable sort keeps rows increasing.
    held, indptr, rows, tf = csr_by_term(terms, rows, tf, n_terms)
    return Segment(name, held, indptr, rows, tf, np.concatenate(lengths), np.concatenate(ids))


def save_segment(segment: Segment, directory: Path, link_from: Path | None) -> None:
    """Write ``segment``'s arrays into ``directory``, hard-linking the files of ``link_from`` when given.

    Segments are immutable, so a segment loaded from a saved index and saved
    again is linked rather than copied: a save costs what changed.
    """
    for file_stem, arr in segment.arrays().items():
        target = directory / f"{file_stem}.npy"
        if link_from is not None:
            try:
                os.link(link_from / target.name, target)
                continue
            except OSError:  # another file system, or the old file is gone: write a copy
                pass
        np.save(target, np.ascontiguousarray(arr), allow_pickle=False)


def load_segment(directory: Path, name: str, mmap: bool) -> Segment:
    """Open the arrays of segment ``name`` in ``directory`` (memory-mapped with ``mmap``)."""
    arrays = {}
    for a in ARRAYS:
        arr = np.load(directory / f"{name}.{a}.npy", mmap_mode="r" if mmap else None, allow_pickle=False)
        arrays[a] = arr.view(np.ndarray) if mmap else arr  # a plain view: numpy's memmap subclass is slower
    return Segment(name, source=directory, **arrays)
