"""The platform's one error hierarchy.

It lives in ``indexes`` because that is the bottom layer: every other package
(``ingest``, ``rag``, ``api``) may import it, and ``indexes`` may import nothing
of theirs. ``rag.errors`` re-exports it. Messages say what to change.
"""

from __future__ import annotations


class RAGError(Exception):
    """Base class of every error the platform raises on purpose."""


class ConfigError(RAGError, ValueError):
    """A setting, spec string or parameter is invalid."""


class DimensionMismatchError(RAGError, ValueError):
    """Vectors do not have the dimension the index or store was built for."""


class IndexFormatError(RAGError):
    """A saved index (or store manifest) is missing, corrupt or of an unknown version."""


class NotTrainedError(RAGError):
    """An index that needs ``train`` was used before it was trained."""


class ConflictError(RAGError):
    """The request conflicts with the current state (a name taken, a job still running on it)."""


class NotFoundError(RAGError, KeyError):
    """A named thing (collection, document, job, index) does not exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class MissingDependencyError(RAGError, ImportError):
    """An optional package or a bundled model file is not installed."""


class InvalidInputError(RAGError, ValueError):
    """User input is well-formed but cannot be processed (empty file, bad query)."""


class UnsupportedMediaTypeError(InvalidInputError):
    """A file type the parsers do not handle."""


class PayloadTooLargeError(InvalidInputError):
    """An upload is larger than the configured limit."""


class DocumentParseError(InvalidInputError):
    """A document could not be turned into text (encrypted, image-only, corrupt)."""


class EncryptedDocumentError(DocumentParseError):
    """A document is encrypted and no password was given."""


class NoTextError(DocumentParseError):
    """A document holds no extractable text (for example an image-only PDF)."""
