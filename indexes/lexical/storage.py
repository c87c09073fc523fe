"""Saved format of a BM25 index: a versioned directory, one ``.npy`` per array.

``meta.json`` holds the format name (``"bm25"``) and version, ``k1``, ``b``, the
analyzer's name, counts and the list of segments; the arrays are the
vocabulary's (``vocab_*.npy``, see :mod:`indexes.lexical.vocab`), the sorted
tombstoned ids (``tombstones.npy``) and five per segment (see
:mod:`indexes.lexical.segments`). Saving writes a temporary sibling directory
and renames it into place, so a reader never sees half an index. Files of
segments (and of the vocabulary) unchanged since loading are hard-linked from
the directory they were loaded from, so saving after a small add writes only
the new segment, the vocabulary when it grew, and meta.json.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from indexes.errors import IndexFormatError
from indexes.io import read_meta, saving_directory, write_meta
from indexes.lexical.segments import ARRAYS, load_segment, save_segment

FORMAT_NAME = "bm25"
FORMAT_VERSION = 1
VOCAB_ARRAYS = ("vocab_bytes", "vocab_offsets", "vocab_ids")


def directory_stamp(directory: Path | None) -> tuple[int, int, int] | None:
    """Identity of a saved directory (its meta.json's inode and mtime): a replaced directory gets another."""
    if directory is None:
        return None
    try:
        st = (directory / "meta.json").stat()
    except OSError:
        return None
    return (st.st_ino, st.st_dev, st.st_mtime_ns)


def save_bm25(index, target: Path) -> Path:
    """Write ``index`` (a :class:`~indexes.lexical.bm25.BM25Index`) to directory ``target``, replacing it."""
    source = index._source
    # Link only from the very directory the arrays were loaded from, not one saved over it since.
    linkable = source is not None and directory_stamp(source) == index._source_stamp
    with saving_directory(target) as tmp:
        vocab_link = source if linkable and index._vocab_source == source else None
        for name, arr in index._vocab.arrays().items():
            _save_array(tmp, name, arr, vocab_link)
        np.save(tmp / "tombstones.npy", index._deleted, allow_pickle=False)
        for seg in index._segments:
            save_segment(seg, tmp, seg.source if linkable and seg.source == source else None)
        write_meta(
            tmp,
            {
                "format": FORMAT_NAME,
                "version": FORMAT_VERSION,
                "k1": index.k1,
                "b": index.b,
                "analyzer": index.analyzer,
                "count": len(index),
                "n_stored": index.n_stored,
                "n_terms": len(index._vocab),
                "n_segments": len(index._segments),
                "segments": [{"name": s.name, "count": s.n_docs, "n_terms": s.n_terms} for s in index._segments],
                "next_segment": index._next_segment,
            },
        )
    return target


def _save_array(directory: Path, name: str, arr: np.ndarray, link_from: Path | None) -> None:
    target = directory / f"{name}.npy"
    if link_from is not None:
        try:
            os.link(link_from / target.name, target)
            return
        except OSError:
            pass
    np.save(target, np.ascontiguousarray(arr), allow_pickle=False)


def read_bm25_meta(path: Path) -> dict:
    """meta.json of a saved BM25 index, or :class:`IndexFormatError` naming what is wrong."""
    return read_meta(path, FORMAT_NAME, FORMAT_VERSION, kind="BM25 index")


def load_bm25(cls, path: Path, mmap: bool):
    """Open the index saved in ``path``; arrays are memory-mapped read-only with ``mmap``."""
    meta = read_bm25_meta(path)
    stamp = directory_stamp(path)
    mode = "r" if mmap else None

    def load(name: str) -> np.ndarray:
        file = path / f"{name}.npy"
        if not file.is_file():
            raise IndexFormatError(f"{path} is incomplete: {file.name} is missing")
        arr = np.load(file, mmap_mode=mode, allow_pickle=False)
        return arr.view(np.ndarray) if mmap else arr

    from indexes.lexical.vocab import Vocabulary

    index = cls(k1=meta["k1"], b=meta["b"], analyzer=meta.get("analyzer"))
    index._vocab = Vocabulary(*(load(name) for name in VOCAB_ARRAYS))
    index._deleted = np.array(load("tombstones"), dtype=np.int64)
    for seg in meta["segments"]:
        missing = [a for a in ARRAYS if not (path / f"{seg['name']}.{a}.npy").is_file()]
        if missing:
            raise IndexFormatError(f"{path} is incomplete: arrays {missing} of segment {seg['name']} are missing")
        index._segments.append(load_segment(path, seg["name"], mmap))
    index._next_segment = int(meta["next_segment"])
    index._source, index._source_stamp, index._vocab_source = path, stamp, path
    return index
