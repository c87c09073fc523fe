"""Reading uploaded files from a multipart/form-data body.

The body is parsed here rather than by Litestar's form decoding so that every
way an upload can be wrong gets a message that says what to change: a part
without a filename, a filename sent only in the RFC 5987 form
(``filename*=UTF-8''...``, which is decoded), a filename too long, a field
other than ``files``, a file over the size limit (detected while streaming,
before the rest is read).
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from pathlib import PurePosixPath

from litestar import Request
from multipart import MultipartError, MultipartSegment, ParserLimitReached, PushMultipartParser, parse_options_header

from api.errors import BadRequestError
from indexes.errors import PayloadTooLargeError, UnsupportedMediaTypeError
from rag.pipeline.ingest import size_limit_message

FIELD = "files"
MAX_FILENAME_CHARS = 255  # what common file systems allow
MAX_FILES = 100
# One header line of a part; generous so that a long (but refused) filename gets
# the filename message instead of a parser limit.
MAX_PART_HEADER_BYTES = 16 * 1024
_EXTENDED_FILENAME = re.compile(r"\bfilename\*\s*=\s*([^;]+)", re.IGNORECASE)


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes
    media_type: str | None  # None when the client sent none or application/octet-stream


async def read_uploads(request: Request, max_file_bytes: int) -> list[Upload]:
    """The files of the multipart field ``files``, each read up to ``max_file_bytes``.

    Raises:
        BadRequestError: not multipart, malformed, a part without a usable filename, an unknown field.
        PayloadTooLargeError: a file is larger than ``max_file_bytes``.
    """
    ctype, options = parse_options_header(request.headers.get("content-type", ""))
    if ctype != "multipart/form-data" or not options.get("boundary"):
        raise UnsupportedMediaTypeError(
            f"send the files as multipart/form-data in the field '{FIELD}' (got content type {ctype or 'none'!r}), "
            f"e.g. curl -F {FIELD}=@report.pdf"
        )
    uploads: list[Upload] = []
    segment: MultipartSegment | None = None
    filename = ""
    body = bytearray()
    try:
        with PushMultipartParser(
            options["boundary"], max_header_size=MAX_PART_HEADER_BYTES, max_segment_count=MAX_FILES
        ) as parser:
            async for chunk in request.stream():
                for event in parser.parse(chunk):
                    if isinstance(event, MultipartSegment):
                        segment, body = event, bytearray()
                        filename = _filename(event, len(uploads) + 1)
                    elif event:
                        body += event
                        if len(body) > max_file_bytes:
                            raise PayloadTooLargeError(size_limit_message(filename, None, max_file_bytes))
                    elif segment is not None:
                        uploads.append(Upload(filename, bytes(body), _media_type(segment)))
                        segment = None
            for _ in parser.parse(b""):  # the end of the stream: an unfinished body is an error here
                pass
    except ParserLimitReached as exc:
        raise BadRequestError(
            f"the upload exceeds a limit of the form ({exc}): send at most {MAX_FILES} files, with filenames "
            f"of at most {MAX_FILENAME_CHARS} characters"
        ) from None
    except MultipartError as exc:
        raise BadRequestError(f"the multipart body is malformed ({exc}); check how the files are sent") from None
    if not uploads:
        raise BadRequestError(f"send at least one file in the multipart field '{FIELD}'")
    return uploads


def _filename(segment: MultipartSegment, number: int) -> str:
    if segment.name != FIELD:
        raise BadRequestError(f"unknown form field {segment.name!r} (part {number}); send the files in '{FIELD}'")
    name = segment.filename or _rfc5987_filename(segment)
    # Keep the last path component: browsers on Windows once sent C:\\dir\\file.pdf.
    name = PurePosixPath((name or "").replace("\\", "/")).name
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    if not name:
        raise BadRequestError(
            f"file {number} of the field '{FIELD}' has no filename; send each file with its name and extension "
            f"(curl -F {FIELD}=@report.pdf does)"
        )
    if len(name) > MAX_FILENAME_CHARS:
        raise BadRequestError(
            f"file {number} has a filename of {len(name)} characters; the limit is {MAX_FILENAME_CHARS}: "
            "rename the file"
        )
    return name


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
