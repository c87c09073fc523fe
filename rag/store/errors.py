"""The error of the store: a collection's manifest on disk that cannot be read."""

from __future__ import annotations

from core.errors import FileFormatError


class StoreFormatError(FileFormatError):
    """A collection's manifest is missing, corrupt or of a version this build cannot read."""
