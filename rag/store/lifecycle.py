"""A collection's lifecycle in the store: create with settings, describe, delete documents, delete, compact.

A part of :class:`rag.store.Store` (a mixin; the host holds ``catalog``,
``data_dir``, ``vectors()`` and the write lock).

Deleting a document removes its catalog rows first, in one transaction: from
that moment no search returns it (search results are read through the catalog,
and ids without rows are skipped). Its vectors and BM25 terms go next, in one
manifest switch; a crash in between leaves vectors without rows, which
:meth:`Store.repair` removes at the next start. Space: vector segments are
rewritten without the deleted rows at once, the BM25 index keeps tombstones
until it compacts (by itself past a fraction, or on :meth:`compact`), and
DuckDB reclaims its rows at a checkpoint.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from core.errors import InvalidInputError
from indexes import parse_spec
from rag.store.catalog import Collection
from rag.store.tables import remove_tables

log = logging.getLogger(__name__)

MIN_CHUNK_TOKENS = 16


def check_chunking(tokens: int | None, overlap: int | None, max_tokens: int | None = None) -> None:
    """Chunking settings a collection may use (None: the server's); a bad pair raises InvalidInputError."""
    if tokens is not None and (tokens < MIN_CHUNK_TOKENS or (max_tokens is not None and tokens > max_tokens)):
        upper = f" and at most {max_tokens} (the embedding model's window)" if max_tokens else ""
        raise InvalidInputError(f"chunk_tokens must be at least {MIN_CHUNK_TOKENS}{upper}, got {tokens}")
    if overlap is not None:
        window = tokens or max_tokens or 0
        if overlap < 0 or (window and overlap >= window // 2):
            raise InvalidInputError(
                f"chunk_overlap must be between 0 and half of chunk_tokens ({window}), got {overlap}"
            )


MAX_SHARDS = 1024


def check_shards(shards: int, sharding: bool) -> None:
    """How many shards a new collection may have: 1, or up to MAX_SHARDS where this process runs Ray."""
    if not 1 <= shards <= MAX_SHARDS:
        raise InvalidInputError(f"shards must be between 1 and {MAX_SHARDS}, got {shards}")
    if shards > 1 and not sharding:
        raise InvalidInputError(
            f"a collection of {shards} shards needs Ray, and this server runs without it: leave shards out "
            "(or 1), or start the server with RAG_RAY_ADDRESS set ('local', or the address of a cluster)"
        )


def check_index_choice(found: Collection, index_spec: str | None) -> None:
    """An upload may name the index of the collection it creates; for an existing one it must be its own."""
    if index_spec and parse_spec(index_spec) != parse_spec(found.index_spec):
        raise InvalidInputError(
            f"collection {found.name!r} already uses index {found.index_spec!r}; leave index_spec out "
            f"or create a new collection for {index_spec!r}"
        )


def chunking_of(collection: Collection, tokens: int, overlap: int) -> tuple[int, int]:
    """The chunk window and overlap a collection uses, given the server's (``tokens``, ``overlap``)."""
    window = collection.chunk_tokens or tokens
    if collection.chunk_overlap is not None:
        return window, collection.chunk_overlap
    return window, min(overlap, (window - 1) // 2)  # the default, or less for a window too small for it


@dataclass(frozen=True)
class CollectionInfo:
    """What GET /v1/collections/{name} reports."""

    collection: Collection
    documents: int
    chunks: int
    bytes_on_disk: int  # vectors, indexes, BM25 and tables (the catalog file is shared by all collections)
    created_at: datetime


@dataclass(frozen=True)
class Compaction:
    bytes_before: int
    bytes_after: int
    merges: int
    lexical_compacted: bool


def folder_bytes(folder: Path) -> int:
    if not folder.exists():
        return 0
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


class CollectionLifecycle:
    def create_collection(
        self,
        name: str,
        dim: int,
        embed_model: str,
        index_spec: str | None = None,
        chunk_tokens: int | None = None,
        chunk_overlap: int | None = None,
        metric: str = "cosine",
        shards: int = 1,
    ) -> Collection:
        """A new, empty collection (ConflictError if the name is taken)."""
        check_chunking(chunk_tokens, chunk_overlap)
        check_shards(shards, self.open_sharded is not None)
        spec = parse_spec(index_spec or self.default_index_spec).spec()
        with self._write_lock:
            return self.catalog.create_collection(
                name, spec, metric, dim, embed_model, chunk_tokens, chunk_overlap, shards
            )

    def collection_folders(self, collection: Collection) -> list[Path]:
        return [self.data_dir / "collections" / str(collection.id), self.tables_dir(collection)]

    def collection_info(self, collection: Collection) -> CollectionInfo:
        return CollectionInfo(
            collection,
            self.catalog.count("documents", collection.id),
            self.catalog.count("chunks", collection.id),
            sum(folder_bytes(f) for f in self.collection_folders(collection)),
            self.catalog.collection_created_at(collection.id),
        )

    def delete_documents(self, collection: Collection, document_ids: list[int]) -> int:
        """Delete documents and the documents attached to them (a message's attachments): catalog rows, vectors,
        BM25 terms and tables; return how many chunks went."""
        with self._write_lock:
            return self._delete(collection, document_ids)

    def _delete(self, collection: Collection, document_ids: list[int]) -> int:
        """:meth:`delete_documents` under the write lock (the caller holds it)."""
        doomed = self.catalog.with_attachments(collection.id, document_ids)
        chunk_ids = self.catalog.delete_documents(collection.id, doomed)
        if chunk_ids.size:
            self.vectors(collection).remove(chunk_ids)
        remove_tables(self.tables_dir(collection), set(doomed))
        return int(chunk_ids.size)

    def delete_collection(self, collection: Collection) -> int:
        """Delete a collection with all its documents and files; return how many documents it held."""
        with self._write_lock:
            n = self.catalog.delete_collection(collection.id)
            with self._lock:
                vs = self._vectors.pop(collection.id, None)
            if vs is not None:
                vs.close()  # a merge in flight finishes; a sharded store's actors stop
            for folder in self.collection_folders(collection):
                shutil.rmtree(folder, ignore_errors=True)
        return n

    def remove_stray_folders(self) -> int:
        """Remove the folders of collections whose rows are gone (a crash during a delete); return how many."""
        known = {str(c.id) for c in self.catalog.list_collections()}
        removed = 0
        for parent in (self.data_dir / "collections", self.data_dir / "tables"):
            for folder in parent.iterdir() if parent.is_dir() else []:
                if folder.is_dir() and folder.name not in known:
                    shutil.rmtree(folder, ignore_errors=True)
                    removed += 1
        return removed

    def compact(self, collection: Collection) -> Compaction:
        """Merge the collection's runs, drop the BM25 index's tombstones and checkpoint the catalog."""
        before = sum(folder_bytes(f) for f in self.collection_folders(collection))
        vs = self.vectors(collection)
        vs.wait_for_merges()
        merges = vs.merge()
        with self._write_lock:
            compacted = vs.compact_lexical()
        self.catalog.checkpoint()
        after = sum(folder_bytes(f) for f in self.collection_folders(collection))
        return Compaction(before, after, merges, compacted)
