"""Keep numba's on-disk cache of the decoder's kernels in step with their sources.

Numba stamps a cached function with its own file's modification time and size only. The decoding step
(:mod:`rag.model.step`) compiles the tile products of other modules (:mod:`rag.model.tile_kernels`,
:mod:`rag.model.q5_kernels`, ...) into itself, so after one of those changes (a ``git pull``, an edit) the
cached step kept running their old code until ``step.py`` itself changed. :func:`drop_stale` closes that
gap for a whole folder: it hashes the sources of the folder's modules that use numba and, when the hash
differs from the one recorded beside the cache, removes the folder's cached kernels so they compile again.
Only numba's in-tree cache (``__pycache__`` beside the sources, its default where the folder is writable) is
handled; a read-only install's user-wide cache is left to numba.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

STAMP = "kernels.sha256"


def sources_hash(folder: Path) -> str:
    """The SHA-256 of the sources in ``folder`` that mention numba, in name order."""
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.py")):
        text = path.read_bytes()
        if b"numba" in text:
            digest.update(path.name.encode() + b"\0" + text + b"\0")
    return digest.hexdigest()


def drop_stale(folder: Path) -> bool:
    """Remove ``folder``'s cached kernels if its numba sources changed since they were cached; True if it did.

    Never raises for the cache's sake: an unwritable ``__pycache__`` leaves numba to compile as it would.
    """
    cache = folder / "__pycache__"
    stamp = cache / STAMP
    current = sources_hash(folder)
    try:
        if stamp.read_text(encoding="ascii") == current:
            return False
    except OSError:
        pass  # no stamp yet: a first run, or a cache from before the stamp existed
    try:
        cache.mkdir(exist_ok=True)
        for path in [*cache.glob("*.nbi"), *cache.glob("*.nbc")]:
            path.unlink(missing_ok=True)
        stamp.write_text(current, encoding="ascii")
    except OSError:
        return False
    return True
