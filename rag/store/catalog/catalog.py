"""DuckDB catalog: collections, documents, chunks and jobs.

Rows move in and out as Arrow tables (pyarrow), the boundary between DuckDB
and the numpy side. One connection is shared by the process and guarded by a
lock: DuckDB connections must not be used from two threads at once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from core.errors import ConfigError, ConflictError, NotFoundError, RAGError
from rag.store.catalog.documents import DocumentRows
from rag.store.catalog.jobs import JobRows
from rag.store.catalog.keys import KeyRows
from rag.store.catalog.schema import _SCHEMA, COLLECTION_COLUMNS, SCHEMA_VERSION, Collection, check_collection_name, now


class Catalog(DocumentRows, JobRows, KeyRows):
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

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor whose statements commit together or not at all."""
        with self.cursor() as cur:
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise

    def checkpoint(self) -> None:
        """Write the log into the database file and reclaim the space of deleted rows where DuckDB can."""
        with self.cursor() as cur:
            cur.execute("CHECKPOINT")

    # -- collections ------------------------------------------------------
    def create_collection(
        self,
        name: str,
        index_spec: str,
        metric: str,
        dim: int,
        embed_model: str,
        chunk_tokens: int | None = None,
        chunk_overlap: int | None = None,
        shards: int = 1,
    ) -> Collection:
        check_collection_name(name)
        with self.cursor() as cur:
            if cur.execute("SELECT 1 FROM collections WHERE name = ?", [name]).fetchone():
                raise ConflictError(f"collection {name!r} exists already; delete it first or choose another name")
            cid = cur.execute("SELECT nextval('collection_ids')").fetchone()[0]
            cur.execute(
                f"INSERT INTO collections ({COLLECTION_COLUMNS}, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [cid, name, index_spec, metric, dim, embed_model, chunk_tokens, chunk_overlap, shards, now()],
            )
        return Collection(cid, name, index_spec, metric, dim, embed_model, chunk_tokens, chunk_overlap, shards)

    def find_collection(self, name: str) -> Collection | None:
        with self.cursor() as cur:
            row = cur.execute(f"SELECT {COLLECTION_COLUMNS} FROM collections WHERE name = ?", [name]).fetchone()
        return Collection(*row) if row else None

    def get_collection(self, name: str) -> Collection:
        """The collection called ``name``; an invalid name is reported as such, not as a missing collection."""
        found = self.find_collection(check_collection_name(name))
        if found is None:
            raise NotFoundError(
                f"collection {name!r} does not exist; create it (POST /v1/collections) or upload documents to it"
            )
        return found

    def list_collections(self) -> list[Collection]:
        with self.cursor() as cur:
            rows = cur.execute(f"SELECT {COLLECTION_COLUMNS} FROM collections ORDER BY name").fetchall()
        return [Collection(*r) for r in rows]

    def collection_created_at(self, collection_id: int):
        with self.cursor() as cur:
            return cur.execute("SELECT created_at FROM collections WHERE id = ?", [collection_id]).fetchone()[0]

    def delete_collection(self, collection_id: int) -> int:
        """Delete a collection's row and every document and chunk row of it, in one transaction; return the
        number of documents deleted."""
        with self.transaction() as cur:
            n = cur.execute("SELECT count(*) FROM documents WHERE collection_id = ?", [collection_id]).fetchone()[0]
            cur.execute("DELETE FROM chunks WHERE collection_id = ?", [collection_id])
            cur.execute("DELETE FROM documents WHERE collection_id = ?", [collection_id])
            cur.execute("DELETE FROM api_keys WHERE collection_id = ?", [collection_id])
            cur.execute("DELETE FROM collections WHERE id = ?", [collection_id])
        return n
