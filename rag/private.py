"""Files only their owner may read: the data directory holds every document, the catalog and the keys' hashes.

``rag`` (the CLI, ``rag serve`` too) runs with umask 077, so whatever it writes is
private. A server started another way (``uvicorn api.app:create_app --factory``) or a
library caller keeps its own umask; :class:`rag.platform.Platform` still makes the data
directory 0700, which keeps every file under it from other users whatever its mode,
and the catalog 0600.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

UMASK = 0o077  # new files 0600, new directories 0700


def private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) as 0700, or take group and other access from an existing one."""
    path = Path(path)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    _owner_only(path)


def private_file(path: Path) -> None:
    """Take group and other access from ``path`` if it exists."""
    if Path(path).exists():
        _owner_only(Path(path))


def _owner_only(path: Path) -> None:
    current = stat.S_IMODE(path.stat().st_mode)
    if current & 0o077 == 0:
        return
    try:
        os.chmod(path, current & 0o700)
    except PermissionError:  # another user's: say so, but a readable store is not a reason to refuse to start
        log.warning("%s is readable by other users (mode %o) and not ours to change; chmod go-rwx it", path, current)
        return
    log.info("%s was readable by other users (mode %o): now %o", path, current, current & 0o700)
