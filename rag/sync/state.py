"""What a sync owns: the documents it stored for the files of one folder, kept beside the catalog.

``<data_dir>/sync/<collection id>-<folder hash>.json`` maps each file's key (its path relative to the
folder) to the document that holds it and the bytes' sha256, size and modification time (so a file whose
size and time did not change is not hashed again). A sync deletes only documents named here: a document
uploaded another way into the same collection is never one of them. A collection made again under the
same name has another id, so it starts with no state. The file is replaced whole (written beside it,
then renamed), so a crash leaves the old state or the new one; documents a crash left out of it are
found again by their filename and bytes (:mod:`rag.sync.plan`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from rag.private import private_dir
from rag.sync.errors import SyncStateError

STATE_VERSION = 1


@dataclass(frozen=True)
class Synced:
    """A file as last synced: the document that holds it, and its bytes' sha256, size and mtime (ns)."""

    document_id: int
    sha256: str
    size: int
    mtime_ns: int


def state_path(data_dir: Path, collection_id: int, root: Path) -> Path:
    """Where the state of syncing ``root`` into the collection ``collection_id`` is kept."""
    folder = hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:16]
    return Path(data_dir) / "sync" / f"{collection_id}-{folder}.json"


def load_state(path: Path) -> dict[str, Synced]:
    """The files a sync stored, by key; none when it never ran."""
    if not path.is_file():
        return {}
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        if body.get("version") != STATE_VERSION:
            raise SyncStateError(
                f"{path} is of version {body.get('version')!r}; this program reads version {STATE_VERSION}: "
                "delete the file to sync the folder from scratch"
            )
        return {key: Synced(**entry) for key, entry in body["files"].items()}
    except (ValueError, KeyError, TypeError) as exc:
        raise SyncStateError(f"{path} is not a sync state ({exc}): delete it to sync the folder from scratch") from exc


def save_state(path: Path, root: Path, files: dict[str, Synced]) -> None:
    """Replace the state at ``path`` whole (a crash leaves the old one or this one)."""
    private_dir(path.parent)
    body = {
        "version": STATE_VERSION,
        "root": str(Path(root).resolve()),
        "files": {key: dataclasses.asdict(entry) for key, entry in sorted(files.items())},
    }
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(body, indent=1), encoding="utf-8")
    os.replace(temporary, path)
