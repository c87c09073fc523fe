"""The errors an upload raises at the door: its type, its size, and a document that cannot be read."""

from __future__ import annotations

from core.errors import InvalidInputError


class UnsupportedMediaTypeError(InvalidInputError):
    """A file type the parsers do not handle."""


class PayloadTooLargeError(InvalidInputError):
    """An upload is larger than the configured limit."""


class DocumentParseError(InvalidInputError):
    """A document could not be turned into text (encrypted, image-only, corrupt)."""


class EncryptedDocumentError(DocumentParseError):
    """A document is encrypted and no password was given."""


class WrongPasswordError(EncryptedDocumentError):
    """A document is encrypted and the password given does not open it."""


class MissingToolError(DocumentParseError):
    """A program a parser runs (``antiword``, ``tesseract``) is not installed; the message names its Debian package."""


class NoTextError(DocumentParseError):
    """A document holds no extractable text (for example an image-only PDF)."""
