"""Changes to a synced folder as they happen (``watchfiles``: inotify, FSEvents or polling), in debounced batches."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path, PurePath

from rag.sync.scan import ignored, supported

DEBOUNCE_MS = 1000  # changes are gathered until none came for this long (a copy of many files is one batch)
WAKE_MS = 1000  # how long the first batch (empty) waits for a change: the caller's first pass then starts


def watch_folder(
    folder: Path, stop: threading.Event | None = None, debounce_ms: int = DEBOUNCE_MS
) -> Iterator[set[str]]:
    """Yield an empty set as soon as ``folder`` is watched, then the keys (relative paths) of each batch of changes.

    The first, empty batch comes once the watcher runs, so a full pass made then misses no change made
    after it. Changes of hidden and temporary files, and of files of types that are not synced, are left
    out (a folder's change is kept: deleting a folder deletes its files). Ends when ``stop`` is set;
    Ctrl-C raises KeyboardInterrupt.
    """
    from watchfiles import watch

    root = os.path.realpath(folder)

    def wanted(_change, path: str) -> bool:
        parts = PurePath(os.path.relpath(path, root)).parts
        if not parts or parts[0] == ".." or any(ignored(p) for p in parts):
            return False
        return supported(parts[-1]) or not os.path.isfile(path)

    first = True
    changes_of = watch(
        root, watch_filter=wanted, debounce=debounce_ms, stop_event=stop, rust_timeout=WAKE_MS, yield_on_timeout=True
    )
    for changes in changes_of:
        if changes or first:
            first = False
            yield {Path(os.path.relpath(path, root)).as_posix() for _, path in changes}
