"""What one pass of a sync did: what ``rag sync`` prints and a server's sync job keeps as its result."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SyncFailure:
    """A file that could not be synced, and why (the pipeline's message: what to change)."""

    file: str
    reason: str


@dataclass(frozen=True)
class SyncDuplicate:
    """A file not stored because the collection holds its bytes already, and what holds them."""

    file: str
    of: str


@dataclass(frozen=True)
class SyncReport:
    """One pass, by file key (the path relative to the folder), each list sorted."""

    collection: str
    folder: str
    added: tuple[str, ...] = ()
    replaced: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    unchanged: int = 0  # files whose bytes the collection holds as they are (touched ones too)
    duplicates: tuple[SyncDuplicate, ...] = ()
    failed: tuple[SyncFailure, ...] = ()
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        return {
            "added": len(self.added),
            "replaced": len(self.replaced),
            "deleted": len(self.deleted),
            "unchanged": self.unchanged,
            "duplicates": len(self.duplicates),
            "failed": len(self.failed),
        }

    def as_dict(self) -> dict:
        """The report as JSON (``rag sync --json``, a sync job's result)."""
        return {
            "collection": self.collection,
            "folder": self.folder,
            **{f"n_{name}": n for name, n in self.counts().items()},
            "added": list(self.added),
            "replaced": list(self.replaced),
            "deleted": list(self.deleted),
            "duplicates": [{"file": d.file, "of": d.of} for d in self.duplicates],
            "failed": [{"file": f.file, "reason": f.reason} for f in self.failed],
            "seconds": round(self.seconds, 3),
        }

    def summary(self) -> str:
        """One line, e.g. ``sync docs: added 2, replaced 1, deleted 0, unchanged 5, duplicates 0, failed 1``."""
        counts = ", ".join(f"{name} {n}" for name, n in self.counts().items())
        return f"sync {self.collection}: {counts} ({self.seconds:.1f} s)"

    def failure_message(self) -> str | None:
        """Why the pass did not sync every file (a job's error), or None when it did."""
        if not self.failed:
            return None
        named = "; ".join(f"{f.file}: {f.reason}" for f in self.failed[:5])
        more = f"; and {len(self.failed) - 5} more" if len(self.failed) > 5 else ""
        return f"{len(self.failed)} file(s) could not be synced: {named}{more}"
