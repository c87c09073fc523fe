"""RTF parser (``.rtf``): a small reader of the Rich Text Format's groups and control words.

striprtf, the maintained library, drops footnotes, breaks characters outside
the Basic Multilingual Plane and leaves tables as ``a|b|`` lines, so the
format is read here: it is a sequence of ``{`` groups ``}``, control words
(``\\par``, ``\\u12478``) and text, where what the reader sees is the text of
the groups that are not "destinations" (font table, stylesheet, pictures,
field instructions...). What this reader keeps:

- characters as Word writes them: ``\\uN`` (UTF-16 units, surrogate pairs
  joined, followed by ``\\ucN`` fallback characters that are skipped), and
  ``\\'xx`` bytes decoded with the code page of the current font's
  ``\\fcharset`` (Shift-JIS for a Japanese font) or the document's ``\\ansicpg``;
- paragraphs; headings from ``\\outlinelevelN`` or a style named "heading N";
- tables (``\\intbl`` paragraphs, ``\\cell`` and ``\\row``) as GFM pipe tables,
  the first row as header;
- list numbers and bullets as Word writes them (``\\listtext``);
- footnotes, marked ``[1]`` where cited and written after the body;
- the title of the ``\\info`` group.

Limits: groups nest at most ``MAX_DEPTH`` deep; ``\\bin`` data is skipped.
"""

from __future__ import annotations

from pathlib import PurePath

from ingest.errors import DocumentParseError, NoTextError

from ..types import ParsedDocument
from .reader import MAX_DEPTH, Reader

__all__ = ["MAX_DEPTH", "MEDIA_TYPE", "parse"]

MEDIA_TYPE = "application/rtf"


def parse(data: bytes, filename: str) -> ParsedDocument:
    """Parse an RTF document.

    Returns:
        Paragraphs with sections per heading, tables as pipe tables (``tables``), then the footnotes.

    Raises:
        DocumentParseError: the bytes are not RTF, or nest groups deeper than ``MAX_DEPTH``.
        NoTextError: the document holds no text.
    """
    if not data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{\\rtf"):
        raise DocumentParseError(f"{filename} is not an RTF file (it does not start with {{\\rtf); check the file")
    reader = Reader(filename)
    reader.read(data)
    text, sections, tables = reader.out.render()
    if not text.strip():
        raise NoTextError(f"{filename} holds no text; check that it is not only pictures")
    return ParsedDocument(
        text=text,
        sections=sections,
        media_type=MEDIA_TYPE,
        title=reader.out.title or PurePath(filename).stem or None,
        tables=tables,
    )
