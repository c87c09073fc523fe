"""A collection's vectors: raw segments and indexes in runs, merged LSM-style, behind one manifest."""

from rag.store.vectors.lexical import COMPACT_FRACTION
from rag.store.vectors.runs import min_train_size
from rag.store.vectors.store import VectorStore

__all__ = ["COMPACT_FRACTION", "VectorStore", "min_train_size"]
