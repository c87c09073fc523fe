"""The embedded store: DuckDB catalog plus memory-mapped vector segments per collection."""

from rag.store.catalog import Catalog, Collection, check_collection_name
from rag.store.store import Store, StoredChunk
from rag.store.vectors import VectorStore

__all__ = ["Catalog", "Collection", "Store", "StoredChunk", "VectorStore", "check_collection_name"]
