"""The base of the platform's errors, and the families every layer raises.

Each layer defines the errors only it raises beside its code (``indexes.errors``,
``ingest.errors``, ``rag.model.errors``, ``rag.store.errors``, ``api.errors``) as
subclasses of these; the API maps the families to HTTP statuses in one table
(``api.errors.ERROR_KINDS``). Messages say what to change.
"""

from __future__ import annotations


class RAGError(Exception):
    """Base class of every error the platform raises on purpose."""


class ConfigError(RAGError, ValueError):
    """A setting, spec string or parameter is invalid."""


class InvalidInputError(RAGError, ValueError):
    """User input is well-formed but cannot be processed (empty file, bad query)."""


class NotFoundError(RAGError, KeyError):
    """A named thing (collection, document, job, index) does not exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ConflictError(RAGError):
    """The request conflicts with the current state (a name taken, a job still running on it)."""


class MissingDependencyError(RAGError, ImportError):
    """An optional package or a bundled model file is not installed."""


class ServiceUnavailableError(RAGError):
    """A service the platform relies on (a model server) is down, overloaded or too slow; trying later may work."""


class FileFormatError(RAGError):
    """A file the platform saved or was given (an index, a manifest, model weights) is missing, corrupt or of an
    unknown version. Each layer names its own kind: ``IndexFormatError``, ``StoreFormatError``, ``ModelFileError``."""
