"""The catalog's API keys (a part of :class:`rag.store.catalog.Catalog`): only their hashes are kept."""

from __future__ import annotations

from core.errors import NotFoundError
from rag.store.catalog.schema import KeyRecord, now


class KeyRows:
    """Per-collection API keys; the host class provides ``cursor()``."""

    def add_key(self, collection_id: int, scope: str, key_hash: str, prefix: str) -> int:
        with self.cursor() as cur:
            kid = cur.execute("SELECT nextval('key_ids')").fetchone()[0]
            cur.execute(
                "INSERT INTO api_keys (id, collection_id, scope, hash, prefix, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                [kid, collection_id, scope, key_hash, prefix, now()],
            )
        return kid

    def find_key(self, key_hash: str) -> tuple[int, int, str] | None:
        """(key id, collection id, scope) of the key with this hash, or None."""
        with self.cursor() as cur:
            row = cur.execute("SELECT id, collection_id, scope FROM api_keys WHERE hash = ?", [key_hash]).fetchone()
        return tuple(row) if row else None

    def list_keys(self, collection_id: int) -> list[KeyRecord]:
        with self.cursor() as cur:
            table = cur.sql(
                "SELECT id, scope, prefix, created_at FROM api_keys WHERE collection_id = $cid ORDER BY id",
                params={"cid": collection_id},
            ).to_arrow_table()
        return [KeyRecord(**row) for row in table.to_pylist()]

    def delete_key(self, collection_id: int, key_id: int) -> None:
        with self.cursor() as cur:
            gone = cur.execute(
                "DELETE FROM api_keys WHERE id = ? AND collection_id = ? RETURNING id", [key_id, collection_id]
            ).fetchall()
        if not gone:
            raise NotFoundError(f"key {key_id} is not a key of this collection; list them with GET .../keys")
