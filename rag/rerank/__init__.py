"""Rerankers: score (query, passage) pairs to reorder first-stage candidates.

``get_reranker(name)`` returns a shared :class:`Reranker`; the names are the
keys of ``RERANKERS``: ``"maxsim"`` (zero-shot late interaction over MiniLM token
vectors, the default) and ``"minilm-scifact"`` (a MiniLM cross-encoder fine-tuned
on SciFact train by :mod:`rag.training.rerank`).
"""

from rag.rerank.base import DEFAULT_RERANKER, RERANKERS, Reranker, get_reranker

__all__ = ["DEFAULT_RERANKER", "RERANKERS", "Reranker", "get_reranker"]
