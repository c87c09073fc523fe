"""What a binary upload is: a ZIP package (Office Open XML, OpenDocument, EPUB), an OLE2 file, an image.

``identify`` names the format of the bytes; ``check_package`` compares it with
the format the file's name or Content-Type chose and raises when they differ
(see ``magic`` for the policy, macro-enabled files included). It only reads
the ZIP central directory and one small entry, or searches the bytes for the
stream names of an OLE2 file: cheap enough for the request path.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass

from ingest.errors import DocumentParseError, UnsupportedMediaTypeError

from .container import CFB_MAGIC, has_member, open_zip, read_member

_MARKER_BYTES = 1 << 20  # [Content_Types].xml of a 1,000-slide deck is about 150 KB


@dataclass(frozen=True)
class Format:
    """A file format as a user knows it: ``description`` ("a Word document") and ``extension`` (".docx")."""

    description: str
    extension: str
    macro: bool = False  # a macro-enabled Office format

    def __str__(self) -> str:
        return f"{self.description} ({self.extension})"


_OOXML = "application/vnd.openxmlformats-officedocument."
_OOXML_MAIN: dict[str, Format] = {
    _OOXML + "wordprocessingml.document.main+xml": Format("a Word document", ".docx"),
    _OOXML + "wordprocessingml.template.main+xml": Format("a Word template", ".dotx"),
    "application/vnd.ms-word.document.macroEnabled.main+xml": Format("a macro-enabled Word document", ".docm", True),
    "application/vnd.ms-word.template.macroEnabledTemplate.main+xml": Format(
        "a macro-enabled Word template", ".dotm", True
    ),
    _OOXML + "presentationml.presentation.main+xml": Format("a PowerPoint presentation", ".pptx"),
    _OOXML + "presentationml.slideshow.main+xml": Format("a PowerPoint slide show", ".ppsx"),
    _OOXML + "presentationml.template.main+xml": Format("a PowerPoint template", ".potx"),
    "application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml": Format(
        "a macro-enabled PowerPoint presentation", ".pptm", True
    ),
    "application/vnd.ms-powerpoint.slideshow.macroEnabled.main+xml": Format(
        "a macro-enabled PowerPoint slide show", ".ppsm", True
    ),
    _OOXML + "spreadsheetml.sheet.main+xml": Format("an Excel workbook", ".xlsx"),
    _OOXML + "spreadsheetml.template.main+xml": Format("an Excel template", ".xltx"),
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml": Format("a macro-enabled Excel workbook", ".xlsm", True),
    "application/vnd.ms-excel.template.macroEnabled.main+xml": Format("a macro-enabled Excel template", ".xltm", True),
    "application/vnd.ms-excel.sheet.binary.macroEnabled.main": Format("a binary Excel workbook", ".xlsb", True),
}
# The ``mimetype`` entry of OpenDocument and EPUB containers.
_ZIP_MIMETYPES: dict[str, Format] = {
    "application/vnd.oasis.opendocument.text": Format("an OpenDocument text", ".odt"),
    "application/vnd.oasis.opendocument.text-template": Format("an OpenDocument text template", ".ott"),
    "application/vnd.oasis.opendocument.spreadsheet": Format("an OpenDocument spreadsheet", ".ods"),
    "application/vnd.oasis.opendocument.presentation": Format("an OpenDocument presentation", ".odp"),
    "application/vnd.oasis.opendocument.graphics": Format("an OpenDocument drawing", ".odg"),
    "application/epub+zip": Format("an EPUB e-book", ".epub"),
}
ENCRYPTED_OOXML = Format("a password-protected Office file", ".docx, .pptx or .xlsx")
# Stream names (UTF-16 in the compound file's directory) that tell OLE2 files apart; the first found wins.
_CFB_STREAMS: tuple[tuple[str, Format], ...] = (
    ("EncryptedPackage", ENCRYPTED_OOXML),
    ("__substg1.0_", Format("an Outlook message", ".msg")),
    ("WordDocument", Format("a Word 97-2003 document", ".doc")),
    ("Workbook", Format("an Excel 97-2003 workbook", ".xls")),
    ("PowerPoint Document", Format("a PowerPoint 97-2003 presentation", ".ppt")),
)
ZIP = Format("a ZIP archive", ".zip")
OLE2 = Format("an OLE2 compound file of no kind read here", ".doc, .xls, .ppt or .msg")
_IMAGES: tuple[tuple[bytes, Format], ...] = (
    (b"\x89PNG\r\n\x1a\n", Format("a PNG image", ".png")),
    (b"\xff\xd8\xff", Format("a JPEG image", ".jpg")),
    (b"II*\x00", Format("a TIFF image", ".tif")),
    (b"MM\x00*", Format("a TIFF image", ".tif")),
)
RTF = Format("an RTF document", ".rtf")

# media type -> the format its bytes must be.
EXPECTED: dict[str, Format] = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": _OOXML_MAIN[
        _OOXML + "wordprocessingml.document.main+xml"
    ],
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": _OOXML_MAIN[
        _OOXML + "presentationml.presentation.main+xml"
    ],
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": _OOXML_MAIN[
        _OOXML + "spreadsheetml.sheet.main+xml"
    ],
    "application/vnd.oasis.opendocument.text": _ZIP_MIMETYPES["application/vnd.oasis.opendocument.text"],
    "application/vnd.oasis.opendocument.spreadsheet": _ZIP_MIMETYPES["application/vnd.oasis.opendocument.spreadsheet"],
    "application/epub+zip": _ZIP_MIMETYPES["application/epub+zip"],
    "application/msword": _CFB_STREAMS[2][1],
    "application/vnd.ms-outlook": _CFB_STREAMS[1][1],
    "application/rtf": RTF,
    "image/png": _IMAGES[0][1],
    "image/jpeg": _IMAGES[1][1],
    "image/tiff": _IMAGES[2][1],
}
OOXML_TYPES = frozenset(list(EXPECTED)[:3])
IMAGE_TYPES = frozenset(("image/png", "image/jpeg", "image/tiff"))
_CONTENT_TYPE = re.compile(rb"""ContentType\s*=\s*["']([^"']+)["']""")


def identify(data: bytes, filename: str) -> Format | None:
    """The format of ``data`` among the ZIP, OLE2, image and RTF formats above; None for other bytes.

    Raises:
        DocumentParseError: a ZIP archive that is corrupt or over ``container``'s limits.
    """
    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        return identify_zip(open_zip(data, filename))
    if data.startswith(CFB_MAGIC):
        return next((fmt for name, fmt in _CFB_STREAMS if name.encode("utf-16-le") in data), OLE2)
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{\\rtf"):
        return RTF
    return next((fmt for magic, fmt in _IMAGES if data.startswith(magic)), None)


def identify_zip(zf: zipfile.ZipFile) -> Format:
    """What a ZIP archive holds: an Office Open XML package by its main part, ODF or EPUB by its ``mimetype``."""
    if has_member(zf, "[Content_Types].xml"):
        declared = _CONTENT_TYPE.findall(read_member(zf, "[Content_Types].xml", _MARKER_BYTES))
        found = [
            _OOXML_MAIN[t.decode("ascii", "replace")] for t in declared if t.decode("ascii", "replace") in _OOXML_MAIN
        ]
        # A package that declares a macro-enabled main part anywhere is macro-enabled.
        return next((fmt for fmt in found if fmt.macro), found[0] if found else ZIP)
    if has_member(zf, "mimetype"):
        mimetype = read_member(zf, "mimetype", 256).decode("ascii", "replace").strip()
        return _ZIP_MIMETYPES.get(mimetype, ZIP)
    return ZIP


def check_package(data: bytes, filename: str, media_type: str, supported: str, other: str | None = None) -> None:
    """Raise when the bytes of a binary (or RTF) upload are not the format ``media_type`` says.

    Args:
        media_type: the type ``detect_media_type`` chose; text types and PDF pass unchecked.
        supported: the supported extensions, for the message.
        other: what ``magic`` calls the bytes when they are none of the formats here.

    Raises:
        UnsupportedMediaTypeError: the bytes are another known format (named, with the
            extension to use), or a macro-enabled Office file.
        DocumentParseError: the bytes are of no known format, or a ZIP over the limits.
    """
    expected = EXPECTED.get(media_type)
    if expected is None:
        return
    found = identify(data, filename)
    if found == expected or (found == ENCRYPTED_OOXML and media_type in OOXML_TYPES):
        return
    if media_type in IMAGE_TYPES and found in (fmt for _, fmt in _IMAGES):
        return  # a JPEG named .png is read by its bytes all the same
    if found is None:
        if other is None:
            raise DocumentParseError(f"{filename} is not {expected}: its bytes are of no known format; check the file")
        raise UnsupportedMediaTypeError(f"{filename} is {other}, not {expected}; upload one of: {supported}")
    if found.macro:
        raise UnsupportedMediaTypeError(
            f"{filename} is {found}: macro-enabled files are refused, also under another name (Office will not "
            f"open a renamed one either); save it as {expected} in its application, which drops the macros, "
            "and upload that"
        )
    fix = (
        f"rename it to {found.extension}" if found.extension in supported.split(", ") else f"upload one of: {supported}"
    )
    raise UnsupportedMediaTypeError(f"{filename} is {found}, not {expected}; {fix}")
