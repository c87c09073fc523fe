"""EPUB e-books (``.epub``): chapters in reading order, each a location ("chapter 3").

The book is read with ``zipfile`` (through ``container``'s bomb-safe
``open_zip`` and ``read_member``) and lxml, rather than ebooklib: ebooklib reads
every member of the archive into memory before one can check its size, reads
images and fonts that are not needed, and warns on every book; the format
needs only the package document, the table of contents and the chapter files
(see ``package``).

Each spine item that is XHTML is one chapter, in spine order: it is parsed as
XML (self-closed ``<div/>``\\s and ``<a/>``\\s then mean what they say), written
out as HTML and cleaned by the HTML cleaner over its whole body, keeping its
headings and tables. Chapters numbered from 1 in reading order, counting only
those with text (a cover page holding an image is skipped). Non-linear items
(``linear="no"``: notes, answer keys) keep their place in the spine: their text
is the book's. The navigation document is skipped (it repeats the chapter
titles). A chapter's heading path starts with its table-of-contents title when
the table names the chapter file itself (or holds one entry for it); a file
holding several entries (a Gutenberg file split by size, a file of poems) has no
one title, and its own headings give the paths. The text starts with a
"Title: ... / Author: ..." block, so that asking who wrote the book finds it.
"""

from __future__ import annotations

import logging
import re
import zipfile

from lxml import etree

from ingest.errors import EncryptedDocumentError, NoTextError

from ..builder import TextBuilder
from ..common import clip_heading, decode_text
from ..container import ZipLimitError, open_zip, read_member
from ..html import parse_body
from ..types import ParsedDocument
from .package import Package, TocEntry, encrypted_paths, read_package, read_toc

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/epub+zip"
MAX_CHAPTERS = 2_000  # spine items read; the rest are left out, logged and counted in metadata
MAX_BOOK_BYTES = 256 << 20  # uncompressed chapter files read, all together
_XHTML_TYPES = {"application/xhtml+xml", "text/html"}
_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([\w.:-]+)""")


def parse(data: bytes, filename: str) -> ParsedDocument:
    """Parse an EPUB e-book into its chapters' text, one location per chapter.

    Args:
        data: the ``.epub`` file's bytes (a ZIP archive).
        filename: used in error messages.

    Returns:
        The book's text: a title/author block, then each chapter; ``title`` the
        book's title, ``metadata`` its title, author, language and chapter count.

    Raises:
        DocumentParseError: not a ZIP archive, no package document, a chapter lxml cannot read.
        EncryptedDocumentError: chapters are encrypted (DRM).
        ZipLimitError: the archive or its chapters expand past the limits (``container``, ``MAX_BOOK_BYTES``).
        NoTextError: no chapter holds text.
    """
    zf = open_zip(data, filename)
    package = read_package(zf, filename)
    toc = read_toc(zf, package, filename)
    builder = TextBuilder()
    builder.add(_front_matter(package), own_section=True)
    chapters = _chapter_paths(package)
    if locked := encrypted_paths(zf, filename) & set(chapters):
        raise EncryptedDocumentError(
            f"{filename} is DRM-protected ({len(locked)} of its {len(chapters)} chapter files are encrypted); "
            "upload a copy without DRM, as the publisher or library provides it"
        )
    n_chapters = 0
    remaining = MAX_BOOK_BYTES
    for path in chapters[:MAX_CHAPTERS]:
        source, remaining = _read_chapter(zf, path, remaining, filename)
        chapter = parse_body(source, filename) if source else None
        if chapter is None:
            continue
        n_chapters += 1
        title = _chapter_title(toc.get(path, []))
        builder.add_document(chapter, heading_prefix=(title,) if title else (), location=f"chapter {n_chapters}")
    if not n_chapters:
        raise NoTextError(f"{filename} has no chapter with text; upload an e-book with text (not only images)")
    text, sections, tables = builder.build()
    return ParsedDocument(
        text=text,
        sections=sections,
        media_type=MEDIA_TYPE,
        title=clip_heading(package.title) if package.title else None,
        metadata=_metadata(package, n_chapters, len(chapters), filename),
        tables=tables,
    )


def _chapter_paths(package: Package) -> list[str]:
    """The archive paths of the spine's XHTML items, in reading order, once each, without the navigation document."""
    items = (package.manifest.get(idref) for idref in package.spine)
    paths = (item.path for item in items if item and item.media_type in _XHTML_TYPES and "nav" not in item.properties)
    return list(dict.fromkeys(paths))


def _read_chapter(zf: zipfile.ZipFile, path: str, remaining: int, filename: str) -> tuple[str, int]:
    """A chapter file as HTML text, and the bytes left of ``MAX_BOOK_BYTES``; "" when the file is missing."""
    try:
        declared = zf.getinfo(path).file_size
    except KeyError:
        log.warning("%s: the spine names %s, which the archive does not hold; skipped", filename, path)
        return "", remaining
    if declared > remaining:
        raise ZipLimitError(
            f"{filename}: its chapters expand to more than {MAX_BOOK_BYTES:,} bytes; split the book or upload it "
            "as several files"
        )
    data = read_member(zf, path, remaining)
    return _as_html(data), remaining - len(data)


def _as_html(data: bytes) -> str:
    """XHTML bytes as HTML text: parsed as XML when they are well formed, else decoded as they are."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError:
        declared = _ENCODING.match(data[:200])
        return decode_text(data, declared.group(1).decode("ascii") if declared else None)
    return etree.tostring(root, method="html", encoding="unicode")


def _chapter_title(entries: list[TocEntry]) -> str | None:
    """The table of contents' title for a chapter file: its entry for the whole file, else its only entry."""
    whole = next((entry.label for entry in entries if not entry.fragment), None)
    return whole or (entries[0].label if len(entries) == 1 else None)


def _front_matter(package: Package) -> str:
    lines = [f"Title: {package.title}"] if package.title else []
    if package.creators:
        lines.append(f"Author: {', '.join(package.creators)}")
    return "\n".join(lines)


def _metadata(package: Package, n_chapters: int, n_spine: int, filename: str) -> dict:
    metadata = {"title": package.title, "author": ", ".join(package.creators), "language": package.language}
    metadata = {key: value for key, value in metadata.items() if value}
    metadata["chapters"] = n_chapters
    if n_spine > MAX_CHAPTERS:
        log.warning("%s: %d chapter files, only the first %d read", filename, n_spine, MAX_CHAPTERS)
        metadata["chapters_left_out"] = n_spine - MAX_CHAPTERS
    return metadata
