"""Re-export of the platform's error hierarchy (defined in the bottom layer, ``indexes``)."""

from indexes.errors import (  # noqa: F401
    ConfigError,
    ConflictError,
    DimensionMismatchError,
    DocumentParseError,
    EncryptedDocumentError,
    IndexFormatError,
    InvalidInputError,
    MissingDependencyError,
    NoTextError,
    NotFoundError,
    NotTrainedError,
    PayloadTooLargeError,
    RAGError,
    UnsupportedMediaTypeError,
)
