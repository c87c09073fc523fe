"""Ingest and query pipelines composed from small stages."""

from rag.pipeline.answer import AnswerCancelled, AnswerOptions, TextSink
from rag.pipeline.citations import Citation
from rag.pipeline.ingest import IngestPipeline, IngestResult, PreparedDocument
from rag.pipeline.prompt import Passage, PromptBuilder
from rag.pipeline.query import QueryPipeline
from rag.pipeline.records import Answer, Question, Stage, StageSink, Usage
from rag.pipeline.request import Hit, Query, Retrieval, SearchOptions, Timings
from rag.pipeline.retrieve import DenseRetriever, HybridRetriever, LexicalRetriever, Retriever

__all__ = [
    "Answer",
    "AnswerCancelled",
    "AnswerOptions",
    "TextSink",
    "Citation",
    "DenseRetriever",
    "Hit",
    "HybridRetriever",
    "IngestPipeline",
    "IngestResult",
    "LexicalRetriever",
    "Passage",
    "PreparedDocument",
    "PromptBuilder",
    "Query",
    "QueryPipeline",
    "Question",
    "Retrieval",
    "Retriever",
    "SearchOptions",
    "Stage",
    "StageSink",
    "Timings",
    "Usage",
]
