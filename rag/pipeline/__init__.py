"""Ingest and query pipelines composed from small stages."""

from rag.pipeline.citations import Citation, Citer
from rag.pipeline.ingest import IngestPipeline, IngestResult, PreparedDocument
from rag.pipeline.prompt import Passage, PromptBuilder
from rag.pipeline.query import Answer, QueryPipeline, Retriever

__all__ = [
    "Answer",
    "Citation",
    "Citer",
    "IngestPipeline",
    "IngestResult",
    "Passage",
    "PreparedDocument",
    "PromptBuilder",
    "QueryPipeline",
    "Retriever",
]
