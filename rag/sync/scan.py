"""Which files of a folder a sync reads, and each one's key: its path relative to the folder.

A file is read when its extension is one the parsers handle (``ingest.parse.SUPPORTED_TYPES``, so a
format added there is synced too) and neither it nor a folder above it is hidden (``.git``,
``.notes.md``) or an editor's or Office's temporary file (``~$report.docx``, ``notes.md~``,
``.report.docx.swp``). Symbolic links are followed only where they lead to a place inside the folder:
a link out of it (``docs/etc -> /etc``) is skipped, and a link back up the tree is walked once.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ingest.parse import SUPPORTED_TYPES

# Names of files that editors and Office keep beside a file while it is open or being saved.
TEMP_PREFIXES = ("~$", ".~lock.", "#")
TEMP_SUFFIXES = ("~", ".swp", ".swx", ".tmp", ".part", ".crdownload")


@dataclass(frozen=True)
class LocalFile:
    """A file of the synced folder as last seen: where it is, its size and its modification time (ns)."""

    path: Path
    size: int
    mtime_ns: int


def ignored(name: str) -> bool:
    """A hidden or temporary file or folder name: never synced."""
    return name.startswith(".") or name.startswith(TEMP_PREFIXES) or name.endswith(TEMP_SUFFIXES)


def supported(name: str) -> bool:
    """A name of a type the parsers read (by its extension)."""
    return PurePosixPath(name).suffix.lower() in SUPPORTED_TYPES


def syncable(key: str) -> bool:
    """A relative path (``a/b.md``) that a scan would read: no part ignored, a supported type."""
    parts = PurePosixPath(key).parts
    return bool(parts) and not any(ignored(p) for p in parts) and supported(parts[-1])


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def scan_folder(root: Path) -> dict[str, LocalFile]:
    """Every file of ``root`` a sync reads, by key (its path relative to ``root``, with forward slashes).

    A file that vanishes while the folder is walked, or a link to nothing, is left out.
    """
    top = os.path.realpath(root)
    found: dict[str, LocalFile] = {}
    walked: set[str] = set()  # real paths of the folders walked: a link back up the tree is walked once
    for folder, subfolders, names in os.walk(top, followlinks=True):
        real = os.path.realpath(folder)
        if real in walked or not _inside(real, top):
            subfolders[:] = []
            continue
        walked.add(real)
        subfolders[:] = sorted(d for d in subfolders if not ignored(d))
        for name in sorted(names):
            if ignored(name) or not supported(name):
                continue
            path = Path(folder, name)
            if not _inside(os.path.realpath(path), top):
                continue
            try:
                st = path.stat()
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                found[path.relative_to(top).as_posix()] = LocalFile(path, st.st_size, st.st_mtime_ns)
    return found
