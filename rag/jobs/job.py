"""A job's state: what the jobs API reports and what the catalog's jobs table keeps."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from rag.store.catalog import FINAL_STATES

# States of one file of an ingest job.
FILE_STATES = ("queued", "parsing", "embedding", "indexing", "done", "duplicate", "failed")


@dataclass
class FileState:
    """One uploaded file of an ingest job and how far it got."""

    filename: str
    size_bytes: int
    media_type: str | None = None
    state: str = "queued"
    document_id: int | None = None
    n_chunks: int | None = None
    error: str | None = None

    @property
    def final(self) -> bool:
        return self.state in ("done", "duplicate", "failed")


@dataclass
class Job:
    """A background job (``kind`` "ingest" or "benchmark").

    Attributes:
        collection: the name of the collection (an ingest job's), as the request named it.
        collection_id: the collection's id: what the job writes to and who may read it (a collection later
            created under the same name is another one). None: a job of no collection (a benchmark), or an
            ingest job written before jobs recorded it.
        status: queued, parsing, embedding, indexing (ingest) or running (benchmark), then done or failed.
        request: what the job was asked to do (an ingest's index_spec and replace; a benchmark's request).
        files: an ingest job's files, each with its own state and error.
        result: what a finished job produced (a benchmark's summary).
        chunks_embedded: chunks embedded so far (kept in memory only).
        version: bumped by every change, so a watcher can wait for the next one (not stored).
    """

    id: int
    kind: str
    status: str
    created_at: str
    collection: str | None = None
    collection_id: int | None = None
    request: dict = field(default_factory=dict)
    files: list[FileState] = field(default_factory=list)
    result: dict | None = None
    error: str | None = None
    finished_at: str | None = None
    chunks_embedded: int = 0
    version: int = 0

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATES

    def detail(self) -> dict:
        """The JSON kept in the catalog's ``detail`` column."""
        return {
            "collection": self.collection,
            "request": self.request,
            "files": [dataclasses.asdict(f) for f in self.files],
            "result": self.result,
        }

    def as_dict(self) -> dict:
        """The job as the REST API shows it."""
        done = sum(f.final for f in self.files)
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "collection": self.collection,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "error": self.error,
            "progress": {"files_done": done, "files_total": len(self.files), "chunks_embedded": self.chunks_embedded},
            "files": [dataclasses.asdict(f) for f in self.files],
            "request": self.request,
            "result": self.result,
        }

    @classmethod
    def from_row(cls, row: dict) -> Job:
        """A job as the catalog's jobs table holds it (rows of the first release have a flat ``detail``)."""
        detail = json.loads(row["detail"]) if row.get("detail") else {}
        if "request" not in detail:  # written before the jobs API: the whole detail was the request
            detail = {"collection": detail.get("collection"), "request": detail, "result": detail.get("summary")}
        stamp = row.get("finished_at")
        return cls(
            id=row["id"],
            kind=row["kind"],
            status=row["status"],
            created_at=row["created_at"].isoformat(),
            collection=detail.get("collection"),
            collection_id=row.get("collection_id"),
            request=detail.get("request") or {},
            files=[FileState(**f) for f in detail.get("files") or []],
            result=detail.get("result"),
            error=row.get("error"),
            finished_at=stamp.isoformat() if stamp else None,
        )
