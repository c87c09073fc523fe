r"""Reading uploaded files from a multipart/form-data body.

The body is parsed here rather than by Litestar's form decoding so that every
way an upload can be wrong gets a message that says what to change: a part
without a filename, a filename sent only in the RFC 5987 form
(``filename*=UTF-8''...``, which is decoded), a filename too long, a field
other than ``files``, a file over the size limit, more than ``MAX_FILES``
files or a body over :func:`upload_body_limit` (each a 413, detected while
streaming, before the rest is read; a Content-Length over the limit before
anything is read).

Filenames are cleaned, not refused, where a clean name remains: the name is
only a label (the bytes are saved as ``<n>.upload`` and never under the
client's name), so a safe label is all that matters.

- Paths are cut to their last component, ``/`` and ``\`` both separators:
  ``../../etc/passwd`` -> ``passwd``, ``..\..\x.txt`` -> ``x.txt``,
  ``C:\Users\me\report.pdf`` -> ``report.pdf``. No stored name holds a separator.
- Characters that are not printable are removed: control characters (NUL,
  newline, escape sequences), format characters (the right-to-left override
  that makes ``invoice\u202etxt.exe`` display as ``invoiceexe.txt``, zero-width
  spaces); the name is NFC-normalised and stripped of surrounding spaces.
- A name that is empty after that, or only dots (``..``), is refused (400).

What the file is (its type) is decided later from its extension, Content-Type
and first bytes (``ingest.parse.check_upload``).

The optional text field ``password`` opens encrypted Office files of the upload.
It is handed to the job in memory and never saved, logged or echoed (an error
about it names the field, never its value).
"""

from __future__ import annotations

import re
import unicodedata
import urllib.parse
from dataclasses import dataclass
from pathlib import PurePosixPath

from litestar import Request
from multipart import MultipartError, MultipartSegment, ParserLimitReached, PushMultipartParser, parse_options_header

from api.errors import BadRequestError
from ingest.check import size_limit_message
from ingest.errors import PayloadTooLargeError, UnsupportedMediaTypeError

FIELD = "files"
PASSWORD_FIELD = "password"
MAX_PASSWORD_BYTES = 1024
MAX_FILENAME_CHARS = 255  # what common file systems allow
MAX_FILES = 100
# The most a request's body may hold: this many maximum-size files, plus room for the parts' headers. Litestar's
# own limit is off on the upload routes (see documents.py): the limit is checked here, with its own message.
MAX_FILES_PER_REQUEST = 4
PART_HEADERS_BYTES = 1024 * 1024
# One header line of a part; generous so that a long (but refused) filename gets
# the filename message instead of a parser limit.
MAX_PART_HEADER_BYTES = 16 * 1024
_EXTENDED_FILENAME = re.compile(r"\bfilename\*\s*=\s*([^;]+)", re.IGNORECASE)


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes
    media_type: str | None  # None when the client sent none or application/octet-stream


@dataclass(frozen=True)
class UploadForm:
    """An upload request's files, and the password for its encrypted files if one was sent."""

    files: list[Upload]
    password: str | None = None

    def __repr__(self) -> str:  # never the password, should the form reach a log
        return f"UploadForm(files={[u.filename for u in self.files]}, password={'***' if self.password else None})"


def upload_body_limit(max_file_bytes: int) -> int:
    """The largest body an upload request may send (``MAX_FILES_PER_REQUEST`` files of ``max_file_bytes``)."""
    return max_file_bytes * MAX_FILES_PER_REQUEST + PART_HEADERS_BYTES


async def read_uploads(request: Request, max_file_bytes: int) -> UploadForm:
    """The files of the multipart field ``files``, each read up to ``max_file_bytes``, and the field ``password``.

    Raises:
        BadRequestError: not multipart, malformed, a part without a usable filename, an unknown field.
        PayloadTooLargeError: a file is larger than ``max_file_bytes``, the request sends more than
            ``MAX_FILES`` files or its body is over :func:`upload_body_limit` (its Content-Length: before
            anything is read).
    """
    ctype, options = parse_options_header(request.headers.get("content-type", ""))
    if ctype != "multipart/form-data" or not options.get("boundary"):
        raise UnsupportedMediaTypeError(
            f"send the files as multipart/form-data in the field '{FIELD}' (got content type {ctype or 'none'!r}), "
            f"e.g. curl -F {FIELD}=@report.pdf"
        )
    max_body = upload_body_limit(max_file_bytes)
    if (request.content_length or 0) > max_body:
        raise PayloadTooLargeError(_body_limit_message(max_body, max_file_bytes))
    uploads: list[Upload] = []
    segment: MultipartSegment | None = None
    filename = ""
    body = bytearray()
    received = 0
    password: str | None = None
    try:
        with PushMultipartParser(
            options["boundary"], max_header_size=MAX_PART_HEADER_BYTES, max_segment_count=MAX_FILES + 1
        ) as parser:
            async for chunk in request.stream():
                received += len(chunk)
                if received > max_body:  # a body sent without a Content-Length, or longer than it said
                    raise PayloadTooLargeError(_body_limit_message(max_body, max_file_bytes))
                for event in parser.parse(chunk):
                    if isinstance(event, MultipartSegment):
                        if len(uploads) >= MAX_FILES:
                            raise PayloadTooLargeError(
                                f"this request sends more than {MAX_FILES} files; the limit is {MAX_FILES} files "
                                f"per request: send them in several requests of at most {MAX_FILES}"
                            )
                        segment, body = event, bytearray()
                        filename = "" if event.name == PASSWORD_FIELD else _filename(event, len(uploads) + 1)
                    elif event:
                        body += event
                        limit = MAX_PASSWORD_BYTES if not filename else max_file_bytes
                        if len(body) > limit:
                            raise _too_long(filename, max_file_bytes)
                    elif segment is not None:
                        if filename:
                            uploads.append(Upload(filename, bytes(body), _media_type(segment)))
                        else:
                            password = _password(body)
                        segment = None
            for _ in parser.parse(b""):  # the end of the stream: an unfinished body is an error here
                pass
    except ParserLimitReached as exc:
        raise BadRequestError(
            f"a part's headers exceed a limit of the form ({exc}): send each file with a filename of at most "
            f"{MAX_FILENAME_CHARS} characters and only the Content-Disposition and Content-Type headers"
        ) from None
    except MultipartError as exc:
        raise BadRequestError(f"the multipart body is malformed ({exc}); check how the files are sent") from None
    if not uploads:
        raise BadRequestError(f"send at least one file in the multipart field '{FIELD}'")
    return UploadForm(uploads, password)


def _too_long(filename: str, max_file_bytes: int) -> Exception:
    if filename:
        return PayloadTooLargeError(size_limit_message(filename, None, max_file_bytes))
    return BadRequestError(f"the field '{PASSWORD_FIELD}' is longer than {MAX_PASSWORD_BYTES} bytes; send the password")


def _password(body: bytearray) -> str | None:
    """The field ``password`` as text (None when empty); its value never enters a message."""
    try:
        return bytes(body).decode("utf-8") or None
    except UnicodeDecodeError:
        raise BadRequestError(f"the field '{PASSWORD_FIELD}' is not UTF-8 text; send the password as text") from None


def _body_limit_message(max_body: int, max_file_bytes: int) -> str:
    return (
        f"the request body is larger than the {max_body / 2**20:g} MB this server accepts in one upload request; "
        f"send the files in several requests (each file at most {max_file_bytes / 2**20:g} MB)"
    )


def _filename(segment: MultipartSegment, number: int) -> str:
    if segment.name != FIELD:
        raise BadRequestError(
            f"unknown form field {segment.name!r} (part {number}); send the files in '{FIELD}' "
            f"(and a password for encrypted files in '{PASSWORD_FIELD}')"
        )
    sent = segment.filename or _rfc5987_filename(segment) or ""
    name = clean_filename(sent)
    if not name:
        raise BadRequestError(
            f"file {number} of the field '{FIELD}' has no filename; send each file with its name and extension "
            f"(curl -F {FIELD}=@report.pdf does)"
        )
    if not name.strip("."):
        raise BadRequestError(
            f"file {number} has the filename {sent!r}, which names no file; send it with its own name and extension"
        )
    if len(name) > MAX_FILENAME_CHARS:
        raise BadRequestError(
            f"file {number} has a filename of {len(name)} characters; the limit is {MAX_FILENAME_CHARS}: "
            "rename the file"
        )
    return name


def clean_filename(name: str) -> str:
    """The last path component of ``name``, its unprintable characters removed (see the module docstring)."""
    # Browsers on Windows once sent C:\\dir\\file.pdf: a backslash separates too.
    name = PurePosixPath(name.replace("\\", "/")).name
    name = unicodedata.normalize("NFC", "".join(ch for ch in name if ch.isprintable()))
    return name.strip()


def _rfc5987_filename(segment: MultipartSegment) -> str | None:
    """``filename*=UTF-8''na%C3%AFve.txt`` (RFC 5987/6266), which the parser leaves aside."""
    for header, value in segment.headerlist:
        if header != "Content-Disposition":
            continue
        found = _EXTENDED_FILENAME.search(value)
        if not found:
            return None
        encoded = found.group(1).strip().strip('"')
        charset, _, rest = encoded.partition("'")
        _, _, quoted = rest.partition("'")
        try:
            return urllib.parse.unquote(quoted, encoding=charset or "utf-8", errors="strict")
        except (LookupError, UnicodeDecodeError):
            raise BadRequestError(
                f"the filename* parameter {encoded!r} is not valid RFC 5987 (charset'language'percent-encoded)"
            ) from None
    return None


def _media_type(segment: MultipartSegment) -> str | None:
    # Browsers and curl send application/octet-stream for unknown files: let the extension decide then.
    ct = (segment.content_type or "").strip().lower()
    return None if ct in ("", "application/octet-stream") else ct
