"""The extractive reader: a trained span head on MiniLM that finds the answer in a passage, or says there is none.

Train with ``python -m rag.training.reader``; the query path uses :class:`Reader`.
"""

from rag.reader.model import DEFAULT_NAME, WEIGHTS_DIR, SpanReader, load_model
from rag.reader.reader import Reader, confidence
from rag.reader.spans import WindowSpan

__all__ = ["DEFAULT_NAME", "WEIGHTS_DIR", "Reader", "SpanReader", "WindowSpan", "confidence", "load_model"]
