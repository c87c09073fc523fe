"""Ingest: bytes of uploaded files -> parsed text -> chunks -> vectors -> store, a batch per write."""

from rag.pipeline.ingest.pipeline import IngestPipeline
from rag.pipeline.ingest.records import (
    IngestResult,
    PreparedDocument,
    SavedFile,
    embedding_input,
    new_document,
    size_limit_message,
)

__all__ = [
    "IngestPipeline",
    "IngestResult",
    "PreparedDocument",
    "SavedFile",
    "embedding_input",
    "new_document",
    "size_limit_message",
]
