"""One pass of a sync, planned: the folder's files (by key and sha256) against what the sync stored before.

Files are known by their key (the path relative to the folder) and their bytes:

- a key the sync never stored is **added**; a stored key whose bytes changed is **replaced** (its old
  document deleted, the file ingested); same bytes (a touch) leave it **unchanged**;
- a stored key whose file is gone has its document **deleted**; a rename is a delete and an add (the
  store keeps no way to rename a document, so the renamed file is parsed and embedded again);
- a collection holds one document per content, so a file whose bytes another file of the pass holds,
  or a document the sync does not own (an upload), is a **duplicate**: nothing is stored for it, and
  it is looked at again in the next pass (when the other file is gone, it is added);
- a document the sync does not own but that has the file's key for its filename and the file's bytes
  was stored by a pass that stopped before it saved its state: the sync **adopts** it.

Every delete (of gone and of replaced files) is applied before anything is ingested, so a file renamed,
or two files that swapped their contents, are stored again rather than found as duplicates of documents
about to go.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rag.sync.state import Synced


@dataclass(frozen=True)
class Held:
    """A document of the collection the sync does not own (an upload): its id and filename."""

    document_id: int
    filename: str


@dataclass(frozen=True)
class SyncPlan:
    """What a pass does, by file key (each tuple sorted)."""

    add: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()
    delete: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    duplicates: dict[str, str] = field(default_factory=dict)  # key -> what holds its bytes, in words
    adopt: dict[str, int] = field(default_factory=dict)  # key -> the document found to hold it
    doomed: tuple[int, ...] = ()  # documents deleted first: of the deleted and the replaced files

    @property
    def ingest(self) -> tuple[str, ...]:
        """The files to parse, embed and store, in key order."""
        return tuple(sorted(self.add + self.replace))


def plan_pass(shas: dict[str, str], synced: dict[str, Synced], held: dict[str, Held]) -> SyncPlan:
    """Plan a pass.

    Args:
        shas: the folder's files now: key -> sha256 of its bytes.
        synced: the files the sync stored, whose documents still exist: key -> :class:`Synced`.
        held: documents of the collection the sync does not own, by sha256.
    """
    unchanged = sorted(k for k in shas if k in synced and synced[k].sha256 == shas[k])
    delete = sorted(k for k in synced if k not in shas)
    changed = sorted(k for k in shas if k in synced and synced[k].sha256 != shas[k])
    kept = {shas[k]: k for k in unchanged}  # bytes a file that stays holds
    claimed: dict[str, str] = {}  # sha256 -> the file of this pass that stores it
    add, replace, duplicates, adopt = [], [], {}, {}
    for key in sorted(k for k in shas if k not in synced or k in changed):
        sha = shas[key]
        other = held.get(sha)
        if other is not None and other.filename == key:
            adopt[key] = other.document_id
            kept[sha] = key
        elif sha in kept or sha in claimed:
            duplicates[key] = f"the same bytes as {kept.get(sha) or claimed[sha]}"
        elif other is not None:
            duplicates[key] = f"the same bytes as document {other.document_id} ({other.filename})"
        else:
            claimed[sha] = key
            (replace if key in synced else add).append(key)
    doomed = sorted(synced[k].document_id for k in delete + changed)
    return SyncPlan(tuple(add), tuple(replace), tuple(delete), tuple(unchanged), duplicates, adopt, tuple(doomed))
