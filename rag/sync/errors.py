"""The errors a folder sync raises itself (a file that cannot be ingested fails alone, with the pipeline's error)."""

from __future__ import annotations

from core.errors import FileFormatError, InvalidInputError


class SyncStateError(FileFormatError):
    """A sync's state file (``<data_dir>/sync/*.json``) is corrupt or of an unknown version."""


class SyncFolderError(InvalidInputError):
    """The folder to sync is missing or not a folder."""
