"""Helpers every parser shares: byte decoding, text clean-up, limits and headings.

``decode_text`` turns uploaded bytes into ``str`` without ever failing: a BOM
wins, then strict UTF-8, then an encoding the document declares, then cp1252
(what "ANSI" text from Windows usually is) and finally latin-1, which maps every
byte. The text parsers write is joined, with its sections and tables, by
``builder.TextBuilder``.
"""

from __future__ import annotations

import codecs
import re

from ingest.errors import DocumentParseError

# UTF-32 first: its little-endian BOM starts with the UTF-16 one.
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# Extracted text may be this many characters per byte of the upload (PDF text is compressed, a
# CSV's cells are padded) but never less than MIN_TEXT_CHARS nor more than MAX_TEXT_CHARS:
# beyond that a small file "expands" into gigabytes (a decompression bomb).
TEXT_PER_BYTE = 100
MIN_TEXT_CHARS = 1_000_000
MAX_TEXT_CHARS = 200_000_000
# Headings and titles are repeated in every chunk's metadata and embedding input: a
# megabyte-long "heading" would be stored once per chunk, so they are cut to this length.
MAX_HEADING_CHARS = 300

# C0/C1 control characters other than tab, newline and form feed carry no text.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_SPACE_RUN = re.compile(r"[^\S\n]+")


def has_bom(data: bytes) -> bool:
    """Whether ``data`` starts with a Unicode byte-order mark."""
    return any(data.startswith(bom) for bom, _ in _BOMS)


def decode_text(data: bytes, declared: str | None = None) -> str:
    """Decode bytes to text, trying likely encodings in order; never raises.

    Args:
        data: the raw file content.
        declared: an encoding the document names (HTML ``<meta charset>``),
            tried after UTF-8; ignored when Python does not know it.

    Returns:
        The decoded text, BOM removed, newlines normalised to ``\\n`` and
        control characters other than tab and form feed removed.
    """
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return normalize_text(data[len(bom) :].decode(codec, errors="replace"))
    candidates = ["utf-8"]
    if declared:
        try:
            candidates.append(codecs.lookup(declared).name)
        except LookupError:
            pass
    candidates.append("cp1252")
    for codec in candidates:
        try:
            return normalize_text(data.decode(codec))
        except UnicodeDecodeError:
            continue
    return normalize_text(data.decode("latin-1"))


def normalize_text(text: str) -> str:
    """Normalise newlines (``\\r\\n``, ``\\r``, U+2028/9) to ``\\n`` and drop control characters."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u2028", "\n").replace("\u2029", "\n\n")
    return _CONTROL.sub("", text)


def collapse_spaces(text: str) -> str:
    """Collapse runs of spaces and tabs (not newlines) into one space and strip each line."""
    return "\n".join(_SPACE_RUN.sub(" ", line).strip() for line in text.split("\n"))


def reject_binary(data: bytes, filename: str, kind: str) -> None:
    """Raise if ``data`` looks like a binary file rather than text.

    NUL bytes never occur in UTF-8 or single-byte text; they do in UTF-16/32,
    which is only accepted with a BOM.

    Raises:
        DocumentParseError: when the first 8 KiB hold a NUL byte and no BOM.
    """
    if not has_bom(data) and b"\x00" in data[:8192]:
        raise DocumentParseError(
            f"{filename} looks like a binary file, not {kind}; upload it with the extension that matches its content"
        )


def text_limit(n_bytes: int) -> int:
    """The most characters of text a file of ``n_bytes`` may expand to (see ``TEXT_PER_BYTE``)."""
    return min(MAX_TEXT_CHARS, max(MIN_TEXT_CHARS, TEXT_PER_BYTE * n_bytes))


def check_expansion(n_chars: int, n_bytes: int, filename: str) -> None:
    """Raise when ``n_chars`` of extracted text is more than a file of ``n_bytes`` may expand to.

    Raises:
        DocumentParseError: over ``text_limit(n_bytes)``; the message names the limit.
    """
    limit = text_limit(n_bytes)
    if n_chars > limit:
        raise DocumentParseError(
            f"{filename} expands to more than {limit:,} characters of text from {n_bytes:,} bytes; it may be "
            "a decompression bomb: check that it opens normally, or split it into smaller files"
        )


def clip_heading(title: str) -> str:
    """``title`` cut to ``MAX_HEADING_CHARS`` (at a space where there is one), ending in "…" when cut."""
    if len(title) <= MAX_HEADING_CHARS:
        return title
    cut = title[: MAX_HEADING_CHARS - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > MAX_HEADING_CHARS // 2 else cut).rstrip() + "…"


def trimmed_span(text: str, start: int, end: int) -> tuple[int, int] | None:
    """Shrink ``[start, end)`` so it neither starts nor ends with whitespace.

    Returns:
        The trimmed ``(start, end)``, or None when the span is only whitespace.
    """
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else None
