"""The manifest of a collection's vectors: which segments, index and BM25 index make up its published state.

``manifest.json`` is replaced by an atomic rename (:func:`write_json_atomic`), so a
reader sees one generation or the next, never a mix. Before the switch every file
the new manifest names is fsynced (:func:`fsync_paths`): the rename is durable only
once the data it points to is.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from indexes.errors import IndexFormatError

MANIFEST = "manifest.json"
FORMAT_NAME = "rag-vectors"
FORMAT_VERSION = 1


def empty_manifest(dim: int, metric: str, index_spec: str) -> dict:
    """The manifest of a collection that has published nothing yet (generation 0)."""
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "generation": 0,
        "dim": dim,
        "metric": metric,
        "index_spec": index_spec,
        "segments": [],
        "index": None,
        "count": 0,
        "lexical": None,
        "analyzer": None,
    }


def read_manifest(root: Path, dim: int, metric: str, index_spec: str) -> dict:
    """The published manifest under ``root`` (the empty one when none is); other formats are refused."""
    path = root / MANIFEST
    if not path.is_file():
        return empty_manifest(dim, metric, index_spec)
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT_NAME or manifest.get("version") != FORMAT_VERSION:
        raise IndexFormatError(
            f"{path} has format {manifest.get('format')!r} version {manifest.get('version')!r}; "
            f"this release reads {FORMAT_NAME} version {FORMAT_VERSION}"
        )
    return manifest


def named_paths(root: Path, manifest: dict) -> list[Path]:
    """Every file and directory a manifest names: segment files, the index and BM25 directories and their files."""
    names = [n for seg in manifest["segments"] for n in (seg["vectors"], seg["ids"])]
    names += [n for n in (manifest.get("index"), manifest.get("lexical")) if n]
    out: list[Path] = []
    for name in names:
        path = root / name
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.is_file())
        out.append(path)  # a directory too: its entries must be durable
    return out


def fsync_paths(paths: list[Path]) -> None:
    """Flush files (and directories' entries) to disk, so a manifest never names data a power loss took."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_json_atomic(path: Path, payload: dict) -> None:
    """Write ``payload`` to ``path`` so that readers see the old or the new file, never a mix."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
