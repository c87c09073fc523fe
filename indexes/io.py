"""Saved-index format: a versioned directory of ``meta.json`` plus one ``.npy`` per array.

Saving writes into a temporary sibling directory and renames it into place, so
a reader never sees a half-written index. Loading memory-maps the arrays
(``np.load(mmap_mode="r")``): opening is O(1) in the index size and pages are
read only when a query touches them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from indexes.base import Index, parse_spec, registered
from indexes.errors import IndexFormatError

FORMAT_NAME = "rag-index"
FORMAT_VERSION = 1


@contextmanager
def saving_directory(target: Path) -> Iterator[Path]:
    """A temporary sibling of ``target`` to write a saved index into; swapped into place on success.

    The block writes the arrays into the yielded directory and returns the meta
    dict through :func:`write_meta`; on leaving, the directory replaces ``target``
    by renames, so a reader sees the old index or the new one, never a mix. An
    error removes the temporary directory and leaves ``target`` as it was.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        if target.exists():
            old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_meta(directory: Path, meta: dict) -> None:
    """Write ``meta.json`` (with a ``built_at`` stamp) and flush it to disk."""
    meta = dict(meta, built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    with open(directory / "meta.json", "w", encoding="utf-8") as fh:
        json.dump(meta, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())


def save_index(index: Index, path: str | os.PathLike[str]) -> Path:
    """Write ``index`` to the directory ``path`` (replaced if it exists)."""
    target = Path(path)
    with saving_directory(target) as tmp:
        arrays = index.arrays()
        for name, arr in arrays.items():
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(arr), allow_pickle=False)
        write_meta(
            tmp,
            {
                "format": FORMAT_NAME,
                "version": FORMAT_VERSION,
                "type": type(index).__name__,
                "spec": index.config.spec(),
                "dim": index.dim,
                "metric": index.metric,
                "count": len(index),
                "arrays": sorted(arrays),
                "state": index.state(),
                "search_defaults": dataclasses.asdict(index.search_defaults),
            },
        )
    return target


def read_meta(
    path: str | os.PathLike[str], format_name: str = FORMAT_NAME, version: int = FORMAT_VERSION, kind: str = "index"
) -> dict:
    """``meta.json`` of a saved directory of ``format_name`` at ``version``, or :class:`IndexFormatError`.

    ``kind`` names the thing in messages ("index", "BM25 index").
    """
    meta_path = Path(path) / "meta.json"
    if not meta_path.is_file():
        raise IndexFormatError(f"{path} is not a saved {kind}: meta.json is missing")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise IndexFormatError(f"{meta_path} is not valid JSON: {exc}") from exc
    if meta.get("format") != format_name:
        raise IndexFormatError(f"{path} holds format {meta.get('format')!r}, expected {format_name!r}")
    if meta.get("version") != version:
        raise IndexFormatError(
            f"{path} has {kind} format version {meta.get('version')!r}; this release reads version "
            f"{version}: rebuild the index or upgrade the platform"
        )
    return meta


def load_index(path: str | os.PathLike[str], mmap: bool = True) -> Index:
    """Open a saved index; with ``mmap=True`` arrays stay on disk until touched."""
    meta = read_meta(path)
    cls = registered().get(meta.get("type", ""))
    if cls is None:
        raise IndexFormatError(f"{path} holds unknown index type {meta.get('type')!r}")
    config = parse_spec(meta["spec"])
    arrays = {}
    for name in meta["arrays"]:
        file = Path(path) / f"{name}.npy"
        if not file.is_file():
            raise IndexFormatError(f"{path} is incomplete: {file.name} is missing")
        arrays[name] = np.load(file, mmap_mode="r" if mmap else None, allow_pickle=False)
    index = cls.from_arrays(config, int(meta["dim"]), meta["metric"], arrays, meta.get("state", {}))
    if meta.get("search_defaults"):
        index.set_search_defaults(**meta["search_defaults"])
    return index
