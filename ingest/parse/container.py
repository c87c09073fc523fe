"""Safe opening of ZIP containers: Office Open XML (.docx, .pptx, .xlsx), OpenDocument (.odt, .ods) and EPUB.

Every one of those formats is a ZIP archive of XML parts, and a ZIP archive
is the classic decompression bomb: 1 GB of zeros deflates to 1 MB, and a
hand-edited central directory may declare sizes that are lies. The parsers
therefore never call ``zipfile`` directly but ``open_zip`` and
``read_member``:

- ``open_zip`` refuses an archive with more than ``MAX_ENTRIES`` entries, a
  total declared uncompressed size over ``MAX_TOTAL_BYTES``, or an entry whose
  declared size is more than ``MAX_RATIO`` times its compressed size (the
  XML parts of real Office files compress 5-50 times, a run of zeros 1,030: deflate's most);
- ``read_member`` reads one entry in blocks and stops as soon as it passes its
  limit, so a member whose declared size lies is still cut off.

Each refusal is a ``DocumentParseError`` (HTTP 422) naming the limit.

A password-protected Office Open XML file is no ZIP at all but an OLE2
compound file around the encrypted package: ``unlock_ooxml`` decrypts it with
the user's password, so the parsers only ever see the ZIP.

Example:
    >>> zf = open_zip(data, "report.docx")  # doctest: +SKIP
    >>> xml = read_member(zf, "word/document.xml")  # doctest: +SKIP
"""

from __future__ import annotations

import io
import zipfile

from ingest.errors import DocumentParseError, EncryptedDocumentError, WrongPasswordError

MAX_ENTRIES = 10_000  # a 500-slide deck with media has about 2,000
MAX_TOTAL_BYTES = 1 << 30  # declared uncompressed size of all entries together
MAX_MEMBER_BYTES = 256 << 20  # one part read into memory (document.xml of a 1,000-page report: ~30 MB)
MAX_RATIO = 500  # declared size / compressed size of one entry (deflate tops out near 1,030)
_RATIO_FLOOR = 1 << 20  # entries smaller than this may compress at any ratio (a run of spaces)
_BLOCK = 1 << 16
CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE2 compound file: legacy Office, .msg, encrypted OOXML


class ZipLimitError(DocumentParseError):
    """A ZIP container is larger, or expands more, than the limits allow (a decompression bomb)."""


def open_zip(data: bytes, filename: str) -> zipfile.ZipFile:
    """Open ``data`` as a ZIP archive after checking its central directory against the limits.

    Args:
        data: the file's bytes.
        filename: used in error messages.

    Returns:
        The open archive (reading from memory; nothing to close).

    Raises:
        DocumentParseError: the bytes are not a readable ZIP archive.
        ZipLimitError: more than ``MAX_ENTRIES`` entries, more than ``MAX_TOTAL_BYTES``
            declared in all, or an entry over ``MAX_RATIO`` times its compressed size.
    """
    buffer = io.BytesIO(data)
    buffer.name = filename  # becomes zf.filename, for read_member's messages
    try:
        zf = zipfile.ZipFile(buffer)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        raise DocumentParseError(
            f"{filename} is not a readable ZIP container ({exc}); check that it opens in its application"
        ) from exc
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        raise ZipLimitError(f"{filename} holds {len(infos):,} files; the limit is {MAX_ENTRIES:,}: split the document")
    total = sum(info.file_size for info in infos)
    if total > MAX_TOTAL_BYTES:
        raise ZipLimitError(
            f"{filename} expands to {total:,} bytes; the limit is {MAX_TOTAL_BYTES:,}: it may be a "
            "decompression bomb, or remove large embedded media and split the document"
        )
    for info in infos:
        if info.file_size > _RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise ZipLimitError(
                f"{filename}: {info.filename} expands {info.file_size // max(info.compress_size, 1):,} times "
                f"(the limit is {MAX_RATIO}); this is a decompression bomb, not a document"
            )
    return zf


def has_member(zf: zipfile.ZipFile, name: str) -> bool:
    """Whether the archive has an entry called ``name``."""
    try:
        zf.getinfo(name)
    except KeyError:
        return False
    return True


def read_member(zf: zipfile.ZipFile, name: str, limit: int = MAX_MEMBER_BYTES) -> bytes:
    """Read one entry, at most ``limit`` bytes of it, whatever size its header declares.

    Args:
        zf: an archive from ``open_zip``.
        name: the entry's path inside the archive.
        limit: the most uncompressed bytes to accept.

    Returns:
        The entry's bytes.

    Raises:
        KeyError: there is no such entry (callers decide whether it is optional).
        ZipLimitError: the entry expands past ``limit``.
        DocumentParseError: the entry is corrupt or encrypted.
    """
    info = zf.getinfo(name)
    source = zf.filename or "the file"
    if info.file_size > limit:
        raise ZipLimitError(f"{source}: {name} is {info.file_size:,} bytes; the limit is {limit:,}: split the document")
    parts: list[bytes] = []
    size = 0
    try:
        with zf.open(info) as member:
            # zipfile checks the declared size only at the end; reading in blocks stops a lie early.
            while block := member.read(_BLOCK):
                size += len(block)
                if size > limit:
                    raise ZipLimitError(
                        f"{source}: {name} expands past {limit:,} bytes although it declares {info.file_size:,}; "
                        "this is a decompression bomb, not a document"
                    )
                parts.append(block)
    except (zipfile.BadZipFile, RuntimeError, OSError, EOFError, NotImplementedError) as exc:
        raise DocumentParseError(
            f"{source}: {name} could not be read ({exc}); the file is corrupt: check that it opens in its application"
        ) from exc
    return b"".join(parts)


def unlock_ooxml(data: bytes, filename: str, password: str | None) -> bytes:
    """The ZIP package inside a password-protected Office Open XML file (.docx, .pptx, .xlsx).

    Office encrypts such a file into an OLE2 compound file holding an
    ``EncryptionInfo`` and an ``EncryptedPackage`` stream; ``msoffcrypto-tool``
    decrypts it (imported here only: the sandbox worker loads it for such files).

    Args:
        data: the file's bytes; returned unchanged when they are not an OLE2 file.
        filename: used in error messages.
        password: the password the user gave, if any.

    Returns:
        The decrypted ZIP package, or ``data`` when it was not encrypted.

    Raises:
        EncryptedDocumentError: the file is encrypted and no password was given.
        WrongPasswordError: the password does not open it.
        DocumentParseError: the encryption data is corrupt.
    """
    if not data.startswith(CFB_MAGIC):
        return data
    import msoffcrypto
    from msoffcrypto.exceptions import InvalidKeyError

    try:
        office = msoffcrypto.OfficeFile(io.BytesIO(data))
        if not office.is_encrypted():
            return data
    except Exception as exc:  # olefile and msoffcrypto raise many kinds on a corrupt compound file
        raise DocumentParseError(f"{filename} is a corrupt Office file ({exc}); check that it opens in Office") from exc
    if password is None:
        raise EncryptedDocumentError(
            f"{filename} is password-protected; send its password with the upload, or remove the password "
            "in its application (File > Info > Protect) and upload it again"
        )
    out = io.BytesIO()
    try:
        office.load_key(password=password)
        office.decrypt(out)
    except InvalidKeyError as exc:
        raise WrongPasswordError(f"the password given does not open {filename}; check it and upload again") from exc
    except Exception as exc:
        raise DocumentParseError(f"{filename} could not be decrypted ({exc}); check that it opens in Office") from exc
    return out.getvalue()
