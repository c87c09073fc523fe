"""Document parsers: bytes of an uploaded file in, ``ParsedDocument`` out.

One module per format (``text``, ``markdown``, ``html``, ``pdf``, ``csv``),
each with a ``parse(data, filename) -> ParsedDocument`` function; this module
picks one from the media type or the file extension. Every parser returns the
same contract (see ``types``): the extracted text plus ordered, non-overlapping
sections with page numbers and heading paths, and the tables in it.

Example:
    >>> doc = parse_bytes(b"# Title\\n\\nBody.", "notes.md")
    >>> doc.sections[0].heading_path
    ('Title',)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePath

from core.errors import InvalidInputError
from ingest.errors import UnsupportedMediaTypeError

from . import csv, html, markdown, pdf, text
from .common import check_expansion
from .magic import check_content, pdf_magic
from .types import ParsedDocument, Section

__all__ = [
    "SUPPORTED_TYPES",
    "ParsedDocument",
    "Section",
    "check_upload",
    "detect_media_type",
    "parse_bytes",
]

SUPPORTED_TYPES: dict[str, str] = {
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".html": "text/html",
    ".htm": "text/html",
    ".pdf": "application/pdf",
    ".csv": "text/csv",
}

# Other names clients send for the same formats.
_ALIASES = {
    "text/x-markdown": "text/markdown",
    "text/x-web-markdown": "text/markdown",
    "application/xhtml+xml": "text/html",
    "application/x-pdf": "application/pdf",
    "application/csv": "text/csv",
    "text/x-csv": "text/csv",
    # What Windows and some browsers send for .csv, because Excel is registered to open it.
    "application/vnd.ms-excel": "text/csv",
}

_PARSERS: dict[str, Callable[[bytes, str], ParsedDocument]] = {
    "text/plain": text.parse,
    "text/markdown": markdown.parse,
    "text/html": html.parse,
    "application/pdf": pdf.parse,
    "text/csv": csv.parse,
}


def _supported_list() -> str:
    return ", ".join(sorted(SUPPORTED_TYPES))


def detect_media_type(filename: str, media_type: str | None = None, data: bytes | None = None) -> str:
    """Return the media type to parse a file as.

    Bytes that start with ``%PDF-`` (when ``data`` is given) are a PDF, whatever
    the name says: a PDF saved as ``report.txt`` is still a PDF. Otherwise a
    supported file extension wins: it is what the user chose, while clients
    often send a generic Content-Type (``application/octet-stream`` for
    ``.md``) or a wrong one. The media type (parameters such as
    ``; charset=utf-8`` ignored) decides when the extension is missing or
    unknown, so ``README`` sent as ``text/markdown`` or ``page.php`` sent as
    ``text/html`` still parse.

    Args:
        filename: the uploaded file's name; only its extension is used.
        media_type: the Content-Type the client sent, if any.
        data: the file's bytes, if at hand (see ``magic``).

    Returns:
        One of the values of ``SUPPORTED_TYPES``.

    Raises:
        UnsupportedMediaTypeError: neither the extension nor the media type is
            supported; the message lists the extensions that are.
    """
    if data is not None and pdf_magic(data):
        return "application/pdf"
    suffix = PurePath(filename).suffix.lower()
    if suffix in SUPPORTED_TYPES:
        return SUPPORTED_TYPES[suffix]
    if media_type:
        essence = media_type.split(";", 1)[0].strip().lower()
        essence = _ALIASES.get(essence, essence)
        if essence in _PARSERS:
            return essence
    if suffix:
        problem = f"{suffix} is not supported"
    elif media_type:
        problem = f"{media_type} is not supported"
    else:
        problem = f"{filename!r} has no file extension"
    raise UnsupportedMediaTypeError(f"{problem}; upload one of: {_supported_list()}")


def parse_bytes(data: bytes, filename: str, media_type: str | None = None) -> ParsedDocument:
    """Extract the text and sections of one uploaded document.

    Args:
        data: the file's raw bytes.
        filename: its name, used to pick the format and in error messages.
        media_type: the Content-Type sent with it, if any (see
            ``detect_media_type``).

    Returns:
        The parsed document; ``media_type`` is the detected type.

    Raises:
        UnsupportedMediaTypeError: the format is not one of ``SUPPORTED_TYPES``.
        InvalidInputError: the file is empty or only whitespace.
        DocumentParseError: the file is corrupt, encrypted
            (``EncryptedDocumentError``) or has no text (``NoTextError``).
    """
    kind = detect_media_type(filename, media_type, data)
    if not data.strip():
        raise InvalidInputError(f"{filename} is empty; upload a file that contains text")
    doc = _PARSERS[kind](data, filename)
    check_expansion(len(doc.text), len(data), filename)
    return doc


def check_upload(data: bytes, filename: str, media_type: str | None = None) -> str:
    """The media type of an upload, checked against its bytes without parsing it (cheap: for a request).

    Returns:
        The type ``detect_media_type`` chooses from the name, the Content-Type and the bytes.

    Raises:
        UnsupportedMediaTypeError: an unsupported type, or binary bytes (an executable, an
            archive, an image...) sent as a text type.
        InvalidInputError: the file is empty or only whitespace.
        DocumentParseError: a ``.pdf`` that does not hold a PDF.
    """
    kind = detect_media_type(filename, media_type, data)
    if not data.strip():
        raise InvalidInputError(f"{filename} is empty; upload a file with content")
    check_content(data, filename, kind, _supported_list())
    return kind
