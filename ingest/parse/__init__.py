"""Document parsers: bytes of an uploaded file in, ``ParsedDocument`` out.

One module per format, each with a ``parse(data, filename) -> ParsedDocument``
function (or two, where one module reads related formats); this module picks
one from the media type or the file extension:

- text: ``text`` (.txt), ``markdown`` (.md), ``html`` (.html), ``csv`` (.csv),
  ``rtf`` (.rtf);
- PDF: ``pdf`` (.pdf, with OCR of pages that have no text layer);
- word processing: ``docx`` (.docx), ``odt`` (.odt), ``doc`` (.doc, through
  Debian's ``antiword``);
- slides and sheets: ``pptx`` (.pptx), ``sheets`` (.xlsx, .ods);
- mail and books: ``mail`` (.eml, .msg), ``epub`` (.epub);
- images: ``image`` (.png, .jpg, .tiff, read by OCR).

Parser modules are imported on first use (``_PARSERS`` names them), so the
sandbox worker loads python-pptx or Tesseract bindings only for a file that
needs them. Every parser returns the same contract (see ``types``): the
extracted text plus ordered, non-overlapping sections with page numbers (or
locations such as "slide 7") and heading paths, and the tables in it.

Before a binary format is parsed its bytes are checked to be what the name
says (``magic.check_package``); a password-protected Office Open XML file is
decrypted first with the password the caller gives (``container.unlock_ooxml``).

Example:
    >>> doc = parse_bytes(b"# Title\\n\\nBody.", "notes.md")
    >>> doc.sections[0].heading_path
    ('Title',)
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from functools import cache
from pathlib import PurePath

from core.errors import InvalidInputError, MissingDependencyError
from ingest.errors import UnsupportedMediaTypeError

from .common import check_expansion
from .container import unlock_ooxml
from .magic import OOXML_TYPES, check_content, check_package, signature_type
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
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".doc": "application/msword",
    ".rtf": "application/rtf",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
    ".eml": "message/rfc822",
    ".msg": "application/vnd.ms-outlook",
    ".epub": "application/epub+zip",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
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
    "text/rtf": "application/rtf",
    "application/x-rtf": "application/rtf",
    "application/x-msword": "application/msword",
    "application/x-outlook-msg": "application/vnd.ms-outlook",
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/x-png": "image/png",
}

# media type -> (module of this package, function): imported on first use.
_PARSERS: dict[str, tuple[str, str]] = {
    "text/plain": ("text", "parse"),
    "text/markdown": ("markdown", "parse"),
    "text/html": ("html", "parse"),
    "application/pdf": ("pdf", "parse"),
    "text/csv": ("csv", "parse"),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ("docx", "parse"),
    "application/vnd.oasis.opendocument.text": ("odt", "parse"),
    "application/msword": ("doc", "parse"),
    "application/rtf": ("rtf", "parse"),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ("pptx", "parse"),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ("sheets", "parse_xlsx"),
    "application/vnd.oasis.opendocument.spreadsheet": ("sheets", "parse_ods"),
    "message/rfc822": ("mail", "parse_eml"),
    "application/vnd.ms-outlook": ("mail", "parse_msg"),
    "application/epub+zip": ("epub", "parse"),
    "image/png": ("image", "parse"),
    "image/jpeg": ("image", "parse"),
    "image/tiff": ("image", "parse"),
}
assert set(SUPPORTED_TYPES.values()) == set(_PARSERS), "every extension has a parser, every parser an extension"
assert OOXML_TYPES <= set(_PARSERS)

Parser = Callable[..., ParsedDocument]


@cache
def parser_for(media_type: str) -> Parser:
    """The parse function for one of the media types in ``SUPPORTED_TYPES``, imported on first use.

    Raises:
        MissingDependencyError: the parser's module, or a package it needs, is not installed.
    """
    module_name, function = _PARSERS[media_type]
    try:
        module = importlib.import_module(f"{__name__}.{module_name}")
    except ImportError as exc:
        raise MissingDependencyError(
            f"reading {media_type} files needs {exc.name or module_name}, which is not installed; "
            "install the project's dependencies (pip install -e .)"
        ) from exc
    return getattr(module, function)


def _accepts_password(parser: Parser) -> bool:
    return "password" in inspect.signature(parser).parameters


def _supported_list() -> str:
    return ", ".join(sorted(SUPPORTED_TYPES))


def detect_media_type(filename: str, media_type: str | None = None, data: bytes | None = None) -> str:
    """Return the media type to parse a file as.

    Bytes that start with ``%PDF-`` or ``{\\rtf`` (when ``data`` is given) are a
    PDF or RTF, whatever the name says: a PDF saved as ``report.txt`` is still a
    PDF, and Word's "Rich Text" saved as ``letter.doc`` is RTF. Otherwise a
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
    if data is not None and (by_bytes := signature_type(data)) is not None:
        return by_bytes
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


def parse_bytes(
    data: bytes, filename: str, media_type: str | None = None, *, password: str | None = None
) -> ParsedDocument:
    """Extract the text and sections of one uploaded document.

    Args:
        data: the file's raw bytes.
        filename: its name, used to pick the format and in error messages.
        media_type: the Content-Type sent with it, if any (see
            ``detect_media_type``).
        password: opens a password-protected Office Open XML file (.docx,
            .pptx, .xlsx), and is passed to the parsers that take one; ignored
            for a file that is not encrypted.

    Returns:
        The parsed document; ``media_type`` is the detected type.

    Raises:
        UnsupportedMediaTypeError: the format is not one of ``SUPPORTED_TYPES``,
            or the bytes are another format than the name says.
        InvalidInputError: the file is empty or only whitespace.
        DocumentParseError: the file is corrupt, encrypted
            (``EncryptedDocumentError``, ``WrongPasswordError``) or has no text (``NoTextError``).
        MissingDependencyError: the format's parser is not installed.
    """
    kind = detect_media_type(filename, media_type, data)
    if not data.strip():
        raise InvalidInputError(f"{filename} is empty; upload a file that contains text")
    check_package(data, filename, kind, _supported_list())
    if kind in OOXML_TYPES:
        data = unlock_ooxml(data, filename, password)
        check_package(data, filename, kind, _supported_list())  # what the encryption hid
    parser = parser_for(kind)
    extra = {"password": password} if password is not None and _accepts_password(parser) else {}
    doc = parser(data, filename, **extra)
    check_expansion(len(doc.text), len(data), filename)
    return doc


def check_upload(data: bytes, filename: str, media_type: str | None = None) -> str:
    """The media type of an upload, checked against its bytes without parsing it (cheap: for a request).

    Returns:
        The type ``detect_media_type`` chooses from the name, the Content-Type and the bytes.

    Raises:
        UnsupportedMediaTypeError: an unsupported type, binary bytes (an executable, an
            archive, an image...) sent as a text type, or an Office, OpenDocument, EPUB or
            image file whose bytes are another format (see ``magic``).
        InvalidInputError: the file is empty or only whitespace.
        DocumentParseError: a ``.pdf`` that does not hold a PDF, a binary format that is
            none at all, or a ZIP container over the limits of ``container``.
    """
    kind = detect_media_type(filename, media_type, data)
    if not data.strip():
        raise InvalidInputError(f"{filename} is empty; upload a file with content")
    check_content(data, filename, kind, _supported_list())
    return kind
