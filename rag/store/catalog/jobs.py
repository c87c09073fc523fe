"""The catalog's job rows (a part of :class:`rag.store.catalog.Catalog`): ingest and benchmark jobs."""

from __future__ import annotations

import json

from core.errors import NotFoundError
from rag.store.catalog.schema import FINAL_STATES, now

INTERRUPTED = "interrupted: the process stopped before the job finished; run it again"


class JobRows:
    """Jobs; the host class provides ``cursor()``."""

    def start_job(self, kind: str, collection_id: int | None, detail: dict, status: str = "running") -> int:
        with self.cursor() as cur:
            jid = cur.execute("SELECT nextval('job_ids')").fetchone()[0]
            cur.execute(
                "INSERT INTO jobs (id, kind, collection_id, status, detail, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                [jid, kind, collection_id, status, json.dumps(detail), now()],
            )
        return jid

    def update_job(self, job_id: int, status: str, detail: dict, error: str | None = None) -> None:
        """Record a job's state and its whole ``detail``; a final state also stamps ``finished_at``."""
        finished = now() if status in FINAL_STATES else None
        with self.cursor() as cur:
            cur.execute(
                "UPDATE jobs SET status = ?, detail = ?, error = ?, finished_at = ? WHERE id = ?",
                [status, json.dumps(detail), error, finished, job_id],
            )

    def finish_job(self, job_id: int, status: str, detail: dict | None = None, error: str | None = None) -> None:
        """Close a job; ``detail`` keys are merged into the ones it started with."""
        if detail is not None:
            start = self.get_job(job_id)["detail"]
            detail = {**(json.loads(start) if start else {}), **detail}
        with self.cursor() as cur:
            cur.execute(
                "UPDATE jobs SET status = ?, detail = coalesce(?, detail), error = ?, finished_at = ? WHERE id = ?",
                [status, json.dumps(detail) if detail is not None else None, error, now(), job_id],
            )

    def fail_interrupted_jobs(self, keep_kinds: tuple[str, ...] = ()) -> int:
        """Mark jobs not in a final state as failed, except those of ``keep_kinds``; return how many.

        Only one process opens the catalog, so a job that is unfinished when it
        opens belonged to a process that stopped (a crash, a kill, a restart).
        Jobs of ``keep_kinds`` are left to their runner, which resumes them.
        """
        with self.cursor() as cur:
            rows = cur.execute(
                "UPDATE jobs SET status = 'failed', error = ?, finished_at = ? "
                "WHERE status NOT IN ('done', 'failed') AND NOT list_contains(?, kind) RETURNING id",
                [INTERRUPTED, now(), list(keep_kinds)],
            ).fetchall()
        return len(rows)

    def get_job(self, job_id: int) -> dict:
        with self.cursor() as cur:
            table = cur.sql("SELECT * FROM jobs WHERE id = $id", params={"id": job_id}).to_arrow_table()
        rows = table.to_pylist()
        if not rows:
            raise NotFoundError(f"job {job_id} does not exist")
        return rows[0]

    def job_counts(self, kind: str) -> dict[str, int]:
        """How many jobs of ``kind`` the catalog holds in each state it has (a state with none is left out)."""
        with self.cursor() as cur:
            rows = cur.execute("SELECT status, count(*) FROM jobs WHERE kind = ? GROUP BY status", [kind]).fetchall()
        return {status: n for status, n in rows}

    def list_jobs(
        self, kind: str | None = None, limit: int = 50, unfinished: bool = False, collection_id: int | None = None
    ) -> list[dict]:
        """The most recent jobs first (of ``kind`` and of the collection ``collection_id`` if given; only those
        not final if ``unfinished``)."""
        where = ["($kind IS NULL OR kind = $kind)", "($cid IS NULL OR collection_id = $cid)"]
        if unfinished:
            where.append("status NOT IN ('done', 'failed')")
        with self.cursor() as cur:
            table = cur.sql(
                f"SELECT * FROM jobs WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT $limit",
                params={"kind": kind, "limit": limit, "cid": collection_id},
            ).to_arrow_table()
        return table.to_pylist()
