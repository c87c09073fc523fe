"""The error of the decoder package: a model or weights file that does not fit."""

from __future__ import annotations

from core.errors import FileFormatError


class ModelFileError(FileFormatError):
    """A GGUF model or a weights file (reader, reranker, retrofit) is empty, truncated or of another architecture."""
