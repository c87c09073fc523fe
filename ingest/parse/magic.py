"""What an upload is by its bytes ("magic numbers"), whatever its name and Content-Type say.

Clients lie, mostly by accident: a PDF saved as ``report.txt``, a ``.docx``
renamed ``.csv``, an executable renamed ``.txt``. The extension still chooses
the parser (see ``detect_media_type``), with corrections from the bytes:

- bytes that start with ``%PDF-`` are a PDF and bytes that start with
  ``{\\rtf`` are RTF, whatever the name (``signature_type``);
- binary bytes (a NUL in the first 8 KiB and no Unicode BOM: text never holds
  one) under a text type are refused, naming the format when its signature
  is known (``check_content``), before the upload is queued;
- a binary format must be what its name says (``check_package``): an Office
  Open XML file (.docx, .pptx, .xlsx) a ZIP whose ``[Content_Types].xml``
  declares the right main part, an OpenDocument file (.odt, .ods) or EPUB a
  ZIP whose ``mimetype`` entry names it, a ``.doc`` or ``.msg`` an OLE2
  compound file holding a Word or Outlook stream, an image a PNG, JPEG or
  TIFF. A password-protected .docx/.pptx/.xlsx is an OLE2 file holding an
  ``EncryptedPackage`` stream: accepted here, decrypted (or refused without a
  password) by the parser. Another known format gets a 415 that names it and
  the extension to use; bytes of no known format a 422.

Macro-enabled files (.docm, .pptm, .xlsm, and the templates .dotm...) are
refused, also when renamed to .docx: a macro-enabled package under a
macro-free name is a common way to deliver malware, and Office itself refuses
to open one so renamed. The parsers would never run the macros, but the text
is one "Save As" away: the message says to save the file as .docx (which drops
the macros) and upload that.

Example:
    >>> describe_binary(b"MZ\\x90\\x00\\x03\\x00")
    'a Windows program (.exe or .dll)'
"""

from __future__ import annotations

from ingest.errors import DocumentParseError, UnsupportedMediaTypeError

from . import packages
from .common import has_bom
from .packages import EXPECTED, OOXML_TYPES

__all__ = ["OOXML_TYPES", "check_content", "check_package", "describe_binary", "signature_type"]

PDF = "application/pdf"
PDF_MAGIC = b"%PDF-"
RTF = "application/rtf"
RTF_MAGIC = b"{\\rtf"
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
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"%PDF-", "a PDF document"),
    (b"RIFF", "a RIFF file (WAV audio, AVI video or WebP image)"),
    (b"SQLite format 3\x00", "an SQLite database"),
)
_TEXT_KINDS = {"text/plain": "plain text", "text/markdown": "Markdown", "text/html": "HTML", "text/csv": "CSV"}


def signature_type(data: bytes) -> str | None:
    """The media type the bytes decide whatever the name says: PDF or RTF; None for others."""
    if data.startswith(PDF_MAGIC):
        return PDF
    if data.removeprefix(b"\xef\xbb\xbf").startswith(RTF_MAGIC):
        return RTF
    return None


def describe_signature(data: bytes) -> str | None:
    """The format whose signature ``data`` starts with, NUL bytes or not; None when none is known."""
    if data[4:8] == b"ftyp":
        return "a video or image (MP4, MOV or HEIC)"
    return next((name for magic, name in _SIGNATURES if data.startswith(magic)), None)


def describe_binary(data: bytes) -> str | None:
    """What binary ``data`` is (its format, or "binary data"); None when it may be text.

    Binary means a NUL byte in the first 8 KiB without a Unicode BOM: NULs never
    occur in UTF-8 or single-byte text, and UTF-16/32 text is only read with a BOM.
    """
    head = data[:SNIFF_BYTES]
    if b"\x00" not in head or has_bom(head):
        return None
    return describe_signature(head) or "binary data (it holds NUL bytes)"


def check_content(data: bytes, filename: str, media_type: str, supported: str) -> None:
    """Raise when the bytes cannot be what ``media_type`` says.

    Args:
        media_type: the type ``detect_media_type`` chose.
        supported: the supported extensions, for the message.

    Raises:
        DocumentParseError: a PDF by its type without a ``%PDF`` header in its first KiB
            (the PDF parser's own check, made before the upload is queued); a binary
            format whose bytes are of no known format, or a ZIP over ``container``'s limits.
        UnsupportedMediaTypeError: binary bytes under a text type, or an Office, OpenDocument,
            EPUB, OLE2 or image format other than the type says; the message names the format
            when its signature is known.
    """
    if media_type == PDF:
        if PDF_MAGIC not in data[:1024]:
            raise DocumentParseError(f"{filename} is not a PDF (no %PDF header); check the file and its extension")
        return
    if media_type in EXPECTED:
        check_package(data, filename, media_type, supported)
        return
    found = describe_binary(data)
    if found is not None:
        raise UnsupportedMediaTypeError(
            f"{filename} is {found}, not {_TEXT_KINDS.get(media_type, media_type)}: its name or content type "
            f"does not match its content; upload one of: {supported}"
        )


def check_package(data: bytes, filename: str, media_type: str, supported: str) -> None:
    """Raise when a binary (or RTF) upload's bytes are not the format ``media_type`` says (see ``packages``).

    Text types and PDF pass unchecked: ``check_content`` and their parsers check those.
    """
    packages.check_package(data, filename, media_type, supported, describe_signature(data))
