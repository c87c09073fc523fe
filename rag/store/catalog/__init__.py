"""DuckDB catalog: collections, documents, chunks and jobs (see :class:`Catalog`)."""

from rag.store.catalog.catalog import Catalog
from rag.store.catalog.schema import (
    _SCHEMA,
    CHUNK_SCHEMA,
    FINAL_STATES,
    JOB_STATES,
    SCHEMA_VERSION,
    ChunkRecord,
    Collection,
    DocumentRecord,
    DocumentWithChunks,
    KeyRecord,
    check_collection_name,
)

__all__ = [
    "CHUNK_SCHEMA",
    "FINAL_STATES",
    "JOB_STATES",
    "SCHEMA_VERSION",
    "_SCHEMA",
    "Catalog",
    "ChunkRecord",
    "Collection",
    "DocumentRecord",
    "DocumentWithChunks",
    "KeyRecord",
    "check_collection_name",
]
