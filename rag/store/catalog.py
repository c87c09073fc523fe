"""DuckDB catalog: collections, documents, chunks and jobs.

Rows move in and out as Arrow tables (pyarrow), the boundary between DuckDB
and the numpy side. One connection is shared by the process and guarded by a
lock: DuckDB connections must not be used from two threads at once.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from indexes.errors import ConfigError, InvalidInputError, NotFoundError, RAGError

SCHEMA_VERSION = 1
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

_SCHEMA = """
CREATE SEQUENCE IF NOT EXISTS collection_ids START 1;
CREATE SEQUENCE IF NOT EXISTS document_ids START 1;
CREATE SEQUENCE IF NOT EXISTS chunk_ids START 1;
CREATE SEQUENCE IF NOT EXISTS job_ids START 1;
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS collections (
    id BIGINT PRIMARY KEY, name VARCHAR UNIQUE NOT NULL, index_spec VARCHAR NOT NULL,
    metric VARCHAR NOT NULL, dim INTEGER NOT NULL, embed_model VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id BIGINT PRIMARY KEY, collection_id BIGINT NOT NULL, filename VARCHAR NOT NULL,
    media_type VARCHAR NOT NULL, sha256 VARCHAR NOT NULL, size_bytes BIGINT NOT NULL,
    title VARCHAR, n_pages INTEGER, n_chunks INTEGER NOT NULL, text VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL, UNIQUE (collection_id, sha256));
CREATE TABLE IF NOT EXISTS chunks (
    id BIGINT PRIMARY KEY, document_id BIGINT NOT NULL, collection_id BIGINT NOT NULL,
    ord INTEGER NOT NULL, text VARCHAR NOT NULL, page INTEGER, char_start INTEGER NOT NULL,
    char_end INTEGER NOT NULL, heading_path VARCHAR[], n_tokens INTEGER NOT NULL);
-- Added after the first release (catalogs created then get it here): the length of a
-- repeated table header that starts a chunk's text, outside [char_start, char_end).
ALTER TABLE chunks ADD COLUMN IF NOT EXISTS prefix_chars INTEGER DEFAULT 0;
CREATE TABLE IF NOT EXISTS jobs (
    id BIGINT PRIMARY KEY, kind VARCHAR NOT NULL, collection_id BIGINT, status VARCHAR NOT NULL,
    detail VARCHAR, error VARCHAR, created_at TIMESTAMPTZ NOT NULL, finished_at TIMESTAMPTZ);
"""

CHUNK_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("document_id", pa.int64()),
        ("collection_id", pa.int64()),
        ("ord", pa.int32()),
        ("text", pa.string()),
        ("page", pa.int32()),
        ("char_start", pa.int32()),
        ("char_end", pa.int32()),
        ("heading_path", pa.list_(pa.string())),
        ("n_tokens", pa.int32()),
        ("prefix_chars", pa.int32()),
    ]
)


@dataclass(frozen=True)
class Collection:
    id: int
    name: str
    index_spec: str
    metric: str
    dim: int
    embed_model: str


def check_collection_name(name: str) -> str:
    if not _NAME.fullmatch(name or ""):
        raise InvalidInputError(
            f"invalid collection name {name!r}: use 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return name


def _now() -> datetime:
    return datetime.now(UTC)


class Catalog:
    """The DuckDB file ``path`` (created with its schema when missing)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(str(path))
        except duckdb.IOException as exc:
            raise RAGError(
                f"cannot open the catalog {path}: {exc}. Another process (a running `rag serve`?) "
                "may hold it; stop it or use another RAG_DATA_DIR"
            ) from exc
        self.lock = threading.RLock()
        with self.lock:
            self.con.execute(_SCHEMA)
            row = self.con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is None:
                self.con.execute("INSERT INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
            elif int(row[0]) != SCHEMA_VERSION:
                raise ConfigError(f"catalog {path} has schema version {row[0]}; this release reads {SCHEMA_VERSION}")

    def close(self) -> None:
        with self.lock:
            self.con.close()

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived cursor under the catalog lock; results never outlive it."""
        with self.lock:
            cur = self.con.cursor()
            try:
                yield cur
            finally:
                cur.close()

    # -- collections ------------------------------------------------------
    def create_collection(self, name: str, index_spec: str, metric: str, dim: int, embed_model: str) -> Collection:
        check_collection_name(name)
        with self.cursor() as cur:
            cid = cur.execute("SELECT nextval('collection_ids')").fetchone()[0]
            cur.execute(
                "INSERT INTO collections VALUES (?, ?, ?, ?, ?, ?, ?)",
                [cid, name, index_spec, metric, dim, embed_model, _now()],
            )
        return Collection(cid, name, index_spec, metric, dim, embed_model)

    def find_collection(self, name: str) -> Collection | None:
        with self.cursor() as cur:
            row = cur.execute(
                "SELECT id, name, index_spec, metric, dim, embed_model FROM collections WHERE name = ?", [name]
            ).fetchone()
        return Collection(*row) if row else None

    def get_collection(self, name: str) -> Collection:
        """The collection called ``name``; an invalid name is reported as such, not as a missing collection."""
        found = self.find_collection(check_collection_name(name))
        if found is None:
            raise NotFoundError(f"collection {name!r} does not exist; upload documents to it first")
        return found

    def list_collections(self) -> list[Collection]:
        with self.cursor() as cur:
            rows = cur.execute(
                "SELECT id, name, index_spec, metric, dim, embed_model FROM collections ORDER BY name"
            ).fetchall()
        return [Collection(*r) for r in rows]

    # -- documents and chunks ---------------------------------------------
    def find_by_sha(self, collection_id: int, sha256: str) -> int | None:
        with self.cursor() as cur:
            row = cur.execute(
                "SELECT id FROM documents WHERE collection_id = ? AND sha256 = ?", [collection_id, sha256]
            ).fetchone()
        return row[0] if row else None

    def allocate_ids(self, sequence: str, n: int) -> list[int]:
        with self.cursor() as cur:
            rows = cur.execute(f"SELECT nextval('{sequence}') FROM range(?)", [n]).fetchall()
        return [r[0] for r in rows]

    def insert_documents(self, docs: list[dict], chunks: pa.Table) -> None:
        """Insert document rows and all their chunk rows in a single transaction."""
        columns = ("id", "collection_id", "filename", "media_type", "sha256", "size_bytes", "title", "n_pages")
        now = _now()
        rows = [[*(d.get(c) for c in columns), d["n_chunks"], d["text"], now] for d in docs]
        with self.cursor() as cur:
            cur.execute("BEGIN TRANSACTION")
            try:
                cur.executemany(
                    f"INSERT INTO documents ({', '.join(columns)}, n_chunks, text, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                if chunks.num_rows:
                    cur.register("chunk_batch", chunks)
                    cur.execute("INSERT INTO chunks SELECT * FROM chunk_batch")
                    cur.unregister("chunk_batch")
                cur.execute("COMMIT")
            except Exception:
                cur.execute("ROLLBACK")
                raise

    def list_documents(self, collection_id: int) -> list[dict]:
        with self.cursor() as cur:
            table = cur.sql(
                "SELECT id, filename, media_type, sha256, size_bytes, title, n_pages, n_chunks, created_at "
                "FROM documents WHERE collection_id = $cid ORDER BY id",
                params={"cid": collection_id},
            ).to_arrow_table()
        return table.to_pylist()

    def chunks_by_id(self, ids: list[int]) -> dict[int, dict]:
        """Chunk rows joined with their document's filename, keyed by chunk id."""
        if not ids:
            return {}
        # A list parameter and plain tuples: a third of the time of joining a registered
        # Arrow table (2.2 vs 7.3 ms for 50 ids), and this read is on every search.
        with self.cursor() as cur:
            rows = cur.execute(
                "SELECT c.*, d.filename, d.title FROM chunks c JOIN documents d ON d.id = c.document_id "
                "WHERE c.id = ANY($1::BIGINT[])",
                [list(ids)],
            ).fetchall()
            names = [d[0] for d in cur.description]
        return {r["id"]: r for r in (dict(zip(names, row)) for row in rows)}

    def chunk_ids(self, collection_id: int) -> np.ndarray:
        """int64 ids of every chunk row of a collection."""
        with self.cursor() as cur:
            table = cur.sql("SELECT id FROM chunks WHERE collection_id = $cid", params={"cid": collection_id})
            return table.to_arrow_table().column("id").to_numpy().astype(np.int64, copy=False)

    def chunk_texts(self, collection_id: int) -> tuple[np.ndarray, list[str], list[str | None]]:
        """Every chunk of a collection as int64 ids, texts and their documents' titles, by id."""
        with self.cursor() as cur:
            table = cur.sql(
                "SELECT c.id, c.text, d.title FROM chunks c JOIN documents d ON d.id = c.document_id "
                "WHERE c.collection_id = $cid ORDER BY c.id",
                params={"cid": collection_id},
            ).to_arrow_table()
        ids = table.column("id").to_numpy().astype(np.int64, copy=False)
        return ids, table.column("text").to_pylist(), table.column("title").to_pylist()

    def count(self, table: str, collection_id: int) -> int:
        assert table in ("documents", "chunks")
        with self.cursor() as cur:
            return cur.execute(f"SELECT count(*) FROM {table} WHERE collection_id = ?", [collection_id]).fetchone()[0]

    # -- jobs -------------------------------------------------------------
    def start_job(self, kind: str, collection_id: int | None, detail: dict) -> int:
        with self.cursor() as cur:
            jid = cur.execute("SELECT nextval('job_ids')").fetchone()[0]
            cur.execute(
                "INSERT INTO jobs (id, kind, collection_id, status, detail, created_at) "
                "VALUES (?, ?, ?, 'running', ?, ?)",
                [jid, kind, collection_id, json.dumps(detail), _now()],
            )
        return jid

    def finish_job(self, job_id: int, status: str, detail: dict | None = None, error: str | None = None) -> None:
        """Close a job; ``detail`` keys are merged into the ones it started with."""
        if detail is not None:
            start = self.get_job(job_id)["detail"]
            detail = {**(json.loads(start) if start else {}), **detail}
        with self.cursor() as cur:
            cur.execute(
                "UPDATE jobs SET status = ?, detail = coalesce(?, detail), error = ?, finished_at = ? WHERE id = ?",
                [status, json.dumps(detail) if detail is not None else None, error, _now(), job_id],
            )

    def fail_interrupted_jobs(self) -> int:
        """Mark jobs still 'running' as failed; return how many.

        Only one process opens the catalog, so a job that is running when it
        opens belonged to a process that stopped (a crash, a kill, a restart)
        and can never finish.
        """
        with self.cursor() as cur:
            rows = cur.execute(
                "UPDATE jobs SET status = 'failed', "
                "error = 'interrupted: the process stopped before the job finished; run it again', "
                "finished_at = ? WHERE status = 'running' RETURNING id",
                [_now()],
            ).fetchall()
        return len(rows)

    def get_job(self, job_id: int) -> dict:
        with self.cursor() as cur:
            table = cur.sql("SELECT * FROM jobs WHERE id = $id", params={"id": job_id}).to_arrow_table()
        rows = table.to_pylist()
        if not rows:
            raise NotFoundError(f"job {job_id} does not exist")
        return rows[0]
