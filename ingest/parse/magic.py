"""What an upload is by its first bytes ("magic numbers"), whatever its name and Content-Type say.

Clients lie, mostly by accident: a PDF saved as ``report.txt``, a ``.docx``
renamed ``.csv``, an executable renamed ``.txt``. The extension still chooses
the parser (see ``detect_media_type``), with two corrections from the bytes:

- bytes that start with ``%PDF-`` are a PDF, whatever the name (``pdf_magic``);
- binary bytes (a NUL in the first 8 KiB and no Unicode BOM: text never holds
  one) under a text type are refused, naming the format when its signature
  is known (``check_content``), before the upload is queued.

Example:
    >>> describe_binary(b"MZ\\x90\\x00\\x03\\x00")
    'a Windows program (.exe or .dll)'
"""

from __future__ import annotations

from ingest.errors import DocumentParseError, UnsupportedMediaTypeError

from .common import has_bom

PDF = "application/pdf"
PDF_MAGIC = b"%PDF-"
SNIFF_BYTES = 8192

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"MZ", "a Windows program (.exe or .dll)"),
    (b"\x7fELF", "a Linux program (ELF)"),
    (b"\xcf\xfa\xed\xfe", "a macOS program (Mach-O)"),
    (b"\xca\xfe\xba\xbe", "a macOS program or Java class file"),
    (b"PK\x03\x04", "a ZIP archive (.zip, or an Office file such as .docx or .xlsx)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Microsoft Office file (.doc, .xls or .ppt)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"RIFF", "a RIFF file (WAV audio, AVI video or WebP image)"),
    (b"SQLite format 3\x00", "an SQLite database"),
)
_TEXT_KINDS = {"text/plain": "plain text", "text/markdown": "Markdown", "text/html": "HTML", "text/csv": "CSV"}


def pdf_magic(data: bytes) -> bool:
    """Whether ``data`` starts like a PDF file."""
    return data.startswith(PDF_MAGIC)


def describe_binary(data: bytes) -> str | None:
    """What binary ``data`` is (its format, or "binary data"); None when it may be text.

    Binary means a NUL byte in the first 8 KiB without a Unicode BOM: NULs never
    occur in UTF-8 or single-byte text, and UTF-16/32 text is only read with a BOM.
    """
    head = data[:SNIFF_BYTES]
    if b"\x00" not in head or has_bom(head):
        return None
    if head[4:8] == b"ftyp":
        return "a video or image (MP4, MOV or HEIC)"
    return next((name for magic, name in _SIGNATURES if head.startswith(magic)), "binary data (it holds NUL bytes)")


def check_content(data: bytes, filename: str, media_type: str, supported: str) -> None:
    """Raise when the bytes cannot be what ``media_type`` says.

    Args:
        media_type: the type ``detect_media_type`` chose.
        supported: the supported extensions, for the message.

    Raises:
        DocumentParseError: a PDF by its type without a ``%PDF`` header in its first KiB
            (the PDF parser's own check, made before the upload is queued).
        UnsupportedMediaTypeError: binary bytes under a text type; the message names the
            format when its signature is known.
    """
    if media_type == PDF:
        if PDF_MAGIC not in data[:1024]:
            raise DocumentParseError(f"{filename} is not a PDF (no %PDF header); check the file and its extension")
        return
    found = describe_binary(data)
    if found is not None:
        raise UnsupportedMediaTypeError(
            f"{filename} is {found}, not {_TEXT_KINDS.get(media_type, media_type)}: its name or content type "
            f"does not match its content; upload one of: {supported}"
        )
