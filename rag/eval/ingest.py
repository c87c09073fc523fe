"""Storing an evaluation's corpus through the platform's own write path (the one ``rag ingest`` takes)."""

from __future__ import annotations

from rag.pipeline.ingest import IngestPipeline, IngestResult


def ingest_texts(pipeline: IngestPipeline, collection: str, files: list[tuple[str, bytes]]) -> list[IngestResult]:
    """Store in-memory files (name, bytes; the name's suffix says the type) as one batch, one result per file.

    Raises:
        RAGError: the first file that could not be stored (an evaluation's corpus must be stored whole).
    """
    results = []
    for _, result in pipeline.ingest_files(collection, [(n, lambda d=d: d) for n, d in files], batch=len(files)):
        if isinstance(result, Exception):
            raise result
        results.append(result)
    return results
