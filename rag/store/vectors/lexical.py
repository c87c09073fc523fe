"""The collection's BM25 index as a write changes it: the index an append extends, a removal's tombstones."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.errors import ConfigError
from indexes.lexical import BM25Index
from rag.store.manifest import Manifest

# A removal that leaves more than this fraction of the BM25 index tombstoned compacts it, so
# the N, avgdl and df of its scores (which count tombstoned rows until then) stay close.
COMPACT_FRACTION = 0.2


def lexical_to_extend(root: Path, manifest: Manifest, analyzer: str | None) -> BM25Index | None:
    """The BM25 index an append adds terms to: the published one, a new one for an empty
    collection, or None for a collection published before lexical indexes (it gets one
    built from all its texts by ``VectorStore.replace_lexical``)."""
    if manifest.lexical:
        lexical = BM25Index.load(root / manifest.lexical, mmap=True)
        if analyzer is not None and lexical.analyzer != analyzer:
            raise ConfigError(
                f"terms made by analyzer {analyzer!r} cannot join a lexical index built with "
                f"{lexical.analyzer!r}: analyse with the collection's analyzer (VectorStore.analyzer)"
            )
        return lexical
    if not manifest.runs:
        return BM25Index(analyzer=analyzer)
    return None


def lexical_without(root: Path, manifest: Manifest, doomed: np.ndarray) -> BM25Index | None:
    """The published BM25 index with ``doomed`` ids tombstoned (compacted past
    :data:`COMPACT_FRACTION`), or None when it holds none of them (or there is none)."""
    if not manifest.lexical:
        return None
    lexical = BM25Index.load(root / manifest.lexical, mmap=True)
    if lexical.delete(doomed) == 0:
        return None
    if lexical.n_stored - len(lexical) > COMPACT_FRACTION * lexical.n_stored:
        lexical.compact()
    return lexical


def lexical_compacted(root: Path, manifest: Manifest) -> BM25Index | None:
    """The published BM25 index rewritten without its tombstones, or None when it has none (or there is none)."""
    if not manifest.lexical:
        return None
    lexical = BM25Index.load(root / manifest.lexical)
    if lexical.n_stored == len(lexical):
        return None
    lexical.compact()
    return lexical
