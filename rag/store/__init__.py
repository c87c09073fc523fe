"""The embedded store: DuckDB catalog plus memory-mapped vector segments per collection."""

from rag.store.catalog import (
    Catalog,
    ChunkRecord,
    Collection,
    DocumentRecord,
    DocumentWithChunks,
    KeyRecord,
    check_collection_name,
)
from rag.store.records import AddedDocument, NewDocument, StoredChunk
from rag.store.store import Store
from rag.store.vectors import VectorStore

__all__ = [
    "AddedDocument",
    "Catalog",
    "ChunkRecord",
    "Collection",
    "DocumentRecord",
    "DocumentWithChunks",
    "KeyRecord",
    "NewDocument",
    "Store",
    "StoredChunk",
    "VectorStore",
    "check_collection_name",
]
