"""The errors the vector and lexical indexes raise (the families they belong to are in ``core.errors``)."""

from __future__ import annotations

from core.errors import FileFormatError, InvalidInputError, RAGError


class DimensionMismatchError(InvalidInputError):
    """Vectors do not have the dimension the index or store was built for."""


class IndexFormatError(FileFormatError):
    """A saved index is missing, corrupt or of an unknown version."""


class NotTrainedError(RAGError):
    """An index that needs ``train`` was used before it was trained."""
