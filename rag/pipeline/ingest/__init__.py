"""Ingest: bytes of uploaded files -> parsed text -> chunks -> vectors -> store, a batch per write."""

from rag.pipeline.ingest.pipeline import IngestPipeline
from rag.pipeline.ingest.records import (
    EmbeddedDocument,
    EmbedProgress,
    IngestResult,
    IngestTimings,
    ParseProgress,
    PreparedDocument,
    Progress,
    SavedFile,
    SkippedAttachment,
    embedding_input,
    new_document,
)

__all__ = [
    "EmbedProgress",
    "EmbeddedDocument",
    "IngestPipeline",
    "IngestResult",
    "IngestTimings",
    "ParseProgress",
    "PreparedDocument",
    "Progress",
    "SavedFile",
    "SkippedAttachment",
    "embedding_input",
    "new_document",
]
