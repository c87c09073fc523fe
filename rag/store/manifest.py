"""The manifest of a collection's vectors: which runs and BM25 index make up its published state.

A collection's vectors are stored as *runs* (LSM-style): each run is one or more
raw-vector segment files (``.npy``, the source of truth) plus one saved index
over them. An append adds a run; merges replace several runs by one. Every file
is immutable once a manifest names it, so a published generation is never
changed, only replaced.

``manifest.json`` is replaced by an atomic rename (:func:`write_json_atomic`), so a
reader sees one generation or the next, never a mix. Before the switch every file
the new manifest names is fsynced (:func:`fsync_paths`): the rename is durable only
once the data it points to is.

Format version 2 (runs); version 1 (one index over every segment) is read and
converted: its index becomes one run holding all its segments.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from rag.store.errors import StoreFormatError

MANIFEST = "manifest.json"
FORMAT_NAME = "rag-vectors"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)


@dataclass(frozen=True)
class SegmentFiles:
    """One raw-vector segment: float32 (count, dim) ``vectors`` and int64 (count,) ``ids`` files."""

    vectors: str
    ids: str
    count: int


@dataclass(frozen=True)
class Run:
    """Segments and the saved index over them.

    Attributes:
        segments: the raw vectors of the run (only live ones: a removal rewrites a segment).
        index: directory of the run's saved index.
        spec: the spec of that index (``Flat`` while a learned spec waits for training data).
        count: live vectors in the index.
    """

    segments: tuple[SegmentFiles, ...]
    index: str
    spec: str
    count: int

    @property
    def stored(self) -> int:
        """Vectors held by the run's segments."""
        return sum(s.count for s in self.segments)

    def names(self) -> list[str]:
        return [n for s in self.segments for n in (s.vectors, s.ids)] + [self.index]


@dataclass(frozen=True)
class Manifest:
    """The published state of one collection's vectors (generation 0: nothing published yet)."""

    dim: int
    metric: str
    index_spec: str
    generation: int = 0
    runs: tuple[Run, ...] = ()
    lexical: str | None = None  # directory of the BM25 index
    analyzer: str | None = None  # the analyzer whose terms it holds

    @property
    def count(self) -> int:
        """Live vectors over every run."""
        return sum(r.count for r in self.runs)

    @property
    def stored(self) -> int:
        """Vectors held by the segments of every run."""
        return sum(r.stored for r in self.runs)

    def names(self) -> list[str]:
        """Every file or directory under the collection's root this manifest names."""
        out = [n for r in self.runs for n in r.names()]
        return out + ([self.lexical] if self.lexical else [])

    def replace(self, **changes) -> Manifest:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        return {"format": FORMAT_NAME, "version": FORMAT_VERSION, **out, "count": self.count}


def _from_json(raw: dict, dim: int, metric: str, index_spec: str) -> Manifest:
    manifest = Manifest(
        dim=raw.get("dim", dim),
        metric=raw.get("metric", metric),
        index_spec=raw.get("index_spec", index_spec),
        generation=int(raw["generation"]),
        lexical=raw.get("lexical"),
        analyzer=raw.get("analyzer"),
    )
    if raw["version"] == 1:  # one index over every segment: it becomes one run
        if not raw.get("index"):
            return manifest
        segments = tuple(SegmentFiles(s["vectors"], s["ids"], int(s["count"])) for s in raw["segments"])
        run = Run(segments, raw["index"], raw.get("active_spec") or manifest.index_spec, int(raw["count"]))
        return manifest.replace(runs=(run,))
    runs = tuple(
        Run(tuple(SegmentFiles(**s) for s in r["segments"]), r["index"], r["spec"], int(r["count"]))
        for r in raw["runs"]
    )
    return manifest.replace(runs=runs)


def read_manifest(root: Path, dim: int, metric: str, index_spec: str) -> Manifest:
    """The published manifest under ``root`` (the empty one when none is); other formats are refused."""
    path = root / MANIFEST
    if not path.is_file():
        return Manifest(dim, metric, index_spec)
    raw = json.loads(path.read_text(encoding="utf-8"))
    if raw.get("format") != FORMAT_NAME or raw.get("version") not in READABLE_VERSIONS:
        raise StoreFormatError(
            f"{path} has format {raw.get('format')!r} version {raw.get('version')!r}; "
            f"this release reads {FORMAT_NAME} versions {', '.join(map(str, READABLE_VERSIONS))}"
        )
    return _from_json(raw, dim, metric, index_spec)


def manifest_stamp(root: Path) -> tuple | None:
    """Identity of the published ``manifest.json`` (inode, size, mtime; None without one): a publish
    renames a new file into place, so a reader knows by one stat whether to read it again."""
    try:
        st = os.stat(root / MANIFEST)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns)


def named_paths(root: Path, names: list[str]) -> list[Path]:
    """The files and directories ``names`` (entries of ``root``) stand for, directories' files included."""
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


def write_manifest(root: Path, manifest: Manifest, previous: Manifest | None = None) -> None:
    """Make what ``manifest`` names durable, then switch ``manifest.json`` to it.

    Files named by ``previous`` as well were made durable when it was published, so
    only the new ones are flushed: an append to a large collection flushes its own run.
    """
    old = set(previous.names()) if previous is not None else set()
    fsync_paths(named_paths(root, [n for n in manifest.names() if n not in old]))
    write_json_atomic(root / MANIFEST, manifest.to_json())


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
