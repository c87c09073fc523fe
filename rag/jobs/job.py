"""A job's state: what the jobs API reports and what the catalog's jobs table keeps."""

from __future__ import annotations

import dataclasses
import json
import time
from collections import deque
from dataclasses import dataclass, field

from rag.store.catalog import FINAL_STATES

# States of one file of an ingest job.
FILE_STATES = ("queued", "parsing", "embedding", "indexing", "done", "duplicate", "failed")
RATE_WINDOW_SECONDS = 30.0  # the ETA follows the embedding speed of about this long ago to now


class EmbedRate:
    """Chunks embedded per second, recently: from the samples of the last ``RATE_WINDOW_SECONDS`` (at least two),
    so a job's estimate follows the machine's speed now (another job may share it) rather than its average."""

    def __init__(self) -> None:
        self._samples: deque[tuple[float, int]] = deque()  # (monotonic seconds, chunks embedded so far)

    def add(self, chunks_embedded: int, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._samples.append((now, chunks_embedded))
        while len(self._samples) > 2 and now - self._samples[1][0] >= RATE_WINDOW_SECONDS:
            self._samples.popleft()

    def per_second(self) -> float | None:
        """None until two samples, at least one embedded chunk apart, say how fast it goes."""
        if len(self._samples) < 2:
            return None
        (t0, n0), (t1, n1) = self._samples[0], self._samples[-1]
        return (n1 - n0) / (t1 - t0) if n1 > n0 and t1 > t0 else None


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
    # a message's attachments: {"filename": "MESSAGE/ATTACHMENT", "state": done | duplicate | skipped,
    # "document_id", "n_chunks", "reason"} each, attachments of attachments included
    attachments: list[dict] = field(default_factory=list)

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
        chunks_embedded: chunks embedded so far (this and the next three are kept in memory only).
        chunks_total: chunks known so far, of the files chunked so far (None: none chunked yet).
        bytes_chunked: the bytes of the files whose chunks ``chunks_total`` counts (to estimate the rest's).
        eta_seconds: estimated seconds of embedding left (None: not known yet).
        reading: how far the slow parse of a file got, as its parser reports it (OCR, a page at a time):
            ``{"filename", "done", "total", "unit"}``; None when none is reported (in memory only).
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
    chunks_total: int | None = None
    bytes_chunked: int = 0
    eta_seconds: float | None = None
    reading: dict | None = None
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
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "collection": self.collection,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "error": self.error,
            "progress": self.progress(),
            "files": [dataclasses.asdict(f) for f in self.files],
            "request": self.request,
            "result": self.result,
        }

    def progress(self) -> dict:
        """How far the job got: files (done; searchable: stored or found stored), chunks, and the time left."""
        return {
            "files_done": sum(f.final for f in self.files),
            "files_total": len(self.files),
            "chunks_embedded": self.chunks_embedded,
            "chunks_total": self.chunks_total,
            "eta_seconds": 0.0 if self.final else self.eta_seconds,
            "files_searchable": sum(f.state in ("done", "duplicate") for f in self.files),
            "reading": None if self.final else self.reading,
        }

    def estimate(self, rate: EmbedRate) -> float | None:
        """Seconds of embedding left at ``rate``: the chunks known and not embedded, plus those of the files not
        chunked yet, guessed from their bytes at the chunks per byte of the files chunked so far."""
        per_second = rate.per_second()
        if per_second is None or self.chunks_total is None:
            return None
        waiting = sum(f.size_bytes for f in self.files if f.state in ("queued", "parsing"))
        guessed = waiting * self.chunks_total / self.bytes_chunked if self.bytes_chunked else 0
        return max(0.0, self.chunks_total + guessed - self.chunks_embedded) / per_second

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
