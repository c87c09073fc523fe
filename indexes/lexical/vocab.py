"""The term vocabulary of a BM25 index: term string -> term id, for millions of terms.

Term ids are given in order of first appearance and never change, so the
postings of older segments stay valid when the vocabulary grows. Saved, the
vocabulary is three arrays, one ``.npy`` each:

* ``vocab_bytes`` uint8 (B,): the UTF-8 bytes of every term in sorted order,
  concatenated (about 8 bytes a term, where a fixed-width unicode array would
  take 4 bytes times the longest term for every term);
* ``vocab_offsets`` int64 (V + 1,): where each sorted term starts in the bytes;
* ``vocab_ids`` int32 (V,): the term id of each sorted term (the permutation).

A loaded vocabulary is searched by bisection over the memory-mapped sorted
terms (UTF-8 byte order is code-point order), so opening costs nothing
whatever the size and no dict of a million strings is built; terms added after
loading live in a dict until the next save merges them in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


class Vocabulary:
    """Term -> id map: sorted arrays (possibly memory-mapped) plus a dict of newer terms.

    Args:
        blob, offsets, ids: the saved arrays (see the module docstring); omitted: empty.
    """

    def __init__(
        self, blob: np.ndarray | None = None, offsets: np.ndarray | None = None, ids: np.ndarray | None = None
    ) -> None:
        if blob is None:
            blob, offsets, ids = np.empty(0, np.uint8), np.zeros(1, np.int64), np.empty(0, np.int32)
        # One tuple, swapped in a single assignment, so a reader never sees parts of two versions.
        self._sorted = (blob, offsets, ids)
        self._new: dict[str, int] = {}

    def __len__(self) -> int:
        return self._sorted[2].shape[0] + len(self._new)

    @property
    def unchanged(self) -> bool:
        """True while no term was added since the arrays were loaded (a save may reuse their files)."""
        return not self._new

    def _bisect(self, key: bytes) -> tuple[int, bool]:
        """Position of ``key`` among the sorted terms, and whether it is there."""
        blob, offsets, _ = self._sorted
        lo, hi = 0, offsets.shape[0] - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if blob[offsets[mid] : offsets[mid + 1]].tobytes() < key:
                lo = mid + 1
            else:
                hi = mid
        found = lo < offsets.shape[0] - 1 and blob[offsets[lo] : offsets[lo + 1]].tobytes() == key
        return lo, found

    def get(self, term: str) -> int:
        """The id of ``term``, or -1 when the vocabulary does not hold it."""
        tid = self._new.get(term)
        if tid is not None:
            return tid
        pos, found = self._bisect(term.encode("utf-8"))
        return int(self._sorted[2][pos]) if found else -1

    def lookup(self, terms: Sequence[str]) -> np.ndarray:
        """int64 (len(terms),) ids of ``terms``, -1 for terms not in the vocabulary."""
        return np.fromiter((self.get(t) for t in terms), dtype=np.int64, count=len(terms))

    def add(self, terms: Iterable[str]) -> np.ndarray:
        """int64 ids of ``terms`` (distinct strings), giving new ids to the terms not held yet."""
        out = []
        for term in terms:
            tid = self.get(term)
            if tid < 0:
                tid = len(self)
                self._new[term] = tid
            out.append(tid)
        return np.asarray(out, dtype=np.int64)

    def arrays(self) -> dict[str, np.ndarray]:
        """The sorted arrays with every added term merged in (they also replace the in-memory ones)."""
        if self._new:
            self._merge()
        blob, offsets, ids = self._sorted
        return {"vocab_bytes": blob, "vocab_offsets": offsets, "vocab_ids": ids}

    def _merge(self) -> None:
        """Insert the dict's terms into the sorted arrays: O(V) numpy work, no decoding of old terms."""
        blob, offsets, ids = self._sorted
        new = dict(self._new)
        terms = sorted(new)  # str order is code-point order, which UTF-8 byte order preserves
        encoded = [t.encode("utf-8") for t in terms]
        n_old, n_new = ids.shape[0], len(terms)
        ins = np.fromiter((self._bisect(e)[0] for e in encoded), dtype=np.int64, count=n_new)  # (n_new,)
        pos_new = ins + np.arange(n_new)  # each new term lands before the old term it was bisected to
        pos_old = np.arange(n_old) + np.searchsorted(ins, np.arange(n_old), side="right")
        old_len = np.diff(offsets)
        new_len = np.fromiter((len(e) for e in encoded), dtype=np.int64, count=n_new)
        lengths = np.empty(n_old + n_new, dtype=np.int64)
        lengths[pos_old], lengths[pos_new] = old_len, new_len
        out_offsets = np.zeros(n_old + n_new + 1, dtype=np.int64)
        np.cumsum(lengths, out=out_offsets[1:])
        out_blob = np.empty(int(out_offsets[-1]), dtype=np.uint8)
        # Every byte moves by the shift of the term it belongs to.
        old_shift = np.repeat(out_offsets[pos_old] - offsets[:-1], old_len)
        out_blob[np.arange(blob.shape[0]) + old_shift] = blob
        new_blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        new_starts = np.concatenate([[0], np.cumsum(new_len)[:-1]]).astype(np.int64)
        out_blob[np.arange(new_blob.shape[0]) + np.repeat(out_offsets[pos_new] - new_starts, new_len)] = new_blob
        out_ids = np.empty(n_old + n_new, dtype=np.int32)
        out_ids[pos_old] = ids
        out_ids[pos_new] = [new[t] for t in terms]
        self._sorted = (out_blob, out_offsets, out_ids)
        for t in terms:  # only now: until the swap above these were found in the dict
            del self._new[t]
