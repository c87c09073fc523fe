"""The checks of an upload's bytes at the door: its size, its type and that it holds something.

They run once per file, where the bytes enter (a job's submit, the CLI, a Ray parse task given files
nobody checked), so that everything downstream may take a checked media type as given.
"""

from __future__ import annotations

from ingest.errors import PayloadTooLargeError
from ingest.parse import check_upload


def check_file(filename: str, data: bytes, media_type: str | None, max_bytes: int) -> str:
    """Validate one upload without parsing it (size, type, emptiness); returns the media type it is parsed as.

    The type is what the file is (:func:`ingest.parse.check_upload`): its extension, else its
    Content-Type, except that bytes starting ``%PDF-`` are a PDF; binary bytes sent as text (an
    executable renamed ``.txt``) are refused with 415.

    Raises:
        PayloadTooLargeError: ``data`` is larger than ``max_bytes``.
        UnsupportedMediaTypeError, InvalidInputError, DocumentParseError: see ``check_upload``.
    """
    if len(data) > max_bytes:
        raise PayloadTooLargeError(size_limit_message(filename, len(data), max_bytes))
    return check_upload(data, filename, media_type)


def size_limit_message(filename: str, size: int | None, limit: int) -> str:
    """Why ``filename`` is refused: it is larger than ``limit`` bytes (``size`` when known).

    Sizes are in MiB, the unit of RAG_MAX_UPLOAD_MB, so a 50 MB setting reads back as 50 MB.
    """
    mb = 1024 * 1024
    what = f"{filename} is {size / mb:.1f} MB" if size is not None else f"{filename} is larger than the limit"
    return f"{what}; the limit is {limit / mb:g} MB ({limit} bytes): split the file or raise RAG_MAX_UPLOAD_MB"
