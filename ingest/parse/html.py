"""HTML parser (``.html``, ``.htm``): the page's main content as text blocks.

The page is parsed with lxml's forgiving HTML parser, boilerplate (scripts,
navigation, headers, footers, sidebars, edit links...) is removed and the main
content container chosen by the Readability-style scorer in ``readability``.
The content is then written out block by block, blocks separated by a blank
line: paragraphs, list items (``- `` or ``1. ``), table rows (one block per
row, cells joined by ``" | "``), preformatted text as is, and headings
``h1``-``h6``, each of which starts a new section with its heading path. When
the page's ``<h1>`` lies outside the chosen content (as on Wikipedia) it still
heads the text, so every heading path starts at the article title. Each
table's span and header rows (those of ``<thead>``, else leading rows made
only of ``<th>`` cells) are recorded in ``ParsedDocument.tables``, so the
chunker can repeat the header.

When the scorer finds less than ``MIN_CONTENT_CHARS`` of content (short pages,
pages made of tables), the whole cleaned ``<body>`` is used instead.

``parse_body`` is that cleaner applied to a whole body rather than to the main
content: an e-book chapter or an e-mail has no site navigation around it, and
choosing one "main" container would drop the other poems of a chapter or the
quoted part of a reply.
"""

from __future__ import annotations

import re
import textwrap

import lxml.html
from lxml import etree
from lxml.html import HtmlElement

from ingest.errors import DocumentParseError, NoTextError

from . import readability
from .builder import TextBuilder
from .common import clip_heading, decode_text
from .types import ParsedDocument, Section, TableSpan

MEDIA_TYPE = "text/html"
MIN_CONTENT_CHARS = 200

_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_INVISIBLE = re.compile("[\u00ad\u200b\u200c\u200d\u2060\ufeff]")
_BR = "\x00"  # marks a <br> among inline text; decode_text removed every real NUL
_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_BLOCKS = readability.BLOCK_TAGS | {
    "body", "caption", "center", "details", "figcaption", "footer", "header", "summary", "tbody", "tr",
}  # fmt: skip


def parse(data: bytes, filename: str) -> ParsedDocument:
    """Parse an HTML page into its main-content text.

    Args:
        data: the raw bytes; the charset comes from a BOM, UTF-8, or
            ``<meta charset>``, in that order.
        filename: used in error messages.

    Returns:
        The main content as blocks, one section per heading, ``title`` from
        ``<title>`` (else the first ``<h1>``).

    Raises:
        DocumentParseError: lxml cannot build a tree from the bytes.
        NoTextError: the page holds no visible text.
    """
    declared = _CHARSET.search(data[:4096])
    source = _XML_DECLARATION.sub("", decode_text(data, declared.group(1).decode("ascii") if declared else None))
    text, sections, tables, title = extract(source, filename, main_only=True)
    if len(text) < MIN_CONTENT_CHARS:
        text, sections, tables, title = extract(source, filename, main_only=False)
    if not text:
        raise NoTextError(f"{filename} has no visible text; upload a page with text content")
    title = clip_heading(title) if title else None
    return ParsedDocument(text=text, sections=sections, media_type=MEDIA_TYPE, title=title, tables=tables)


def parse_body(source: str, filename: str) -> ParsedDocument | None:
    """The cleaned text of a whole HTML (or XHTML) body, its sections, tables and title.

    Args:
        source: the page as text (already decoded).
        filename: used in error messages.

    Returns:
        The parsed page, or None when it holds no visible text.

    Raises:
        DocumentParseError: lxml cannot build a tree from it, or it nests too deep.
    """
    source = _XML_DECLARATION.sub("", source)  # lxml refuses a str that declares its encoding
    if not source.strip():
        return None
    try:
        text, sections, tables, title = extract(source, filename, main_only=False)
    except NoTextError:  # markup only, or invisible characters: the caller decides whether that is an error
        return None
    if not text:
        return None
    return ParsedDocument(text=text, sections=sections, media_type=MEDIA_TYPE, title=title, tables=tables)


def extract(source: str, filename: str, main_only: bool) -> tuple[str, list[Section], list[TableSpan], str | None]:
    """Text, sections, tables and title of the main content (``main_only``) or of the whole cleaned body."""
    root = _parse_tree(source, filename)
    title_el = root.find(".//title")
    first_h1 = next(root.iter("h1"), None)
    title = _flat_text(title_el) if title_el is not None else ""
    title = title or (_flat_text(first_h1) if first_h1 is not None else "")
    readability.strip_boilerplate(root)
    body = root.body if root.find("body") is not None else root
    h1 = next(body.iter("h1"), None)  # after clean-up, so a site banner's <h1> does not count
    content = readability.main_content(body) if main_only else body
    lead = ""
    if h1 is not None and next(content.iter("h1"), None) is None:
        h1_text = _flat_text(h1)
        lead = h1_text if not title or h1_text in title else ""
    text, sections, tables = _write_blocks(content, lead)
    return text, sections, tables, title or None


def _parse_tree(source: str, filename: str) -> HtmlElement:
    parser = lxml.html.HTMLParser()  # its own error log, read below
    try:
        root = lxml.html.document_fromstring(source, parser=parser)
    except (etree.ParserError, ValueError) as exc:
        if not _INVISIBLE.sub("", source).strip() or "empty" in str(exc).lower():
            raise NoTextError(f"{filename} has no visible text; upload a page with text content") from exc
        raise DocumentParseError(
            f"{filename} could not be read as HTML ({exc}); check that it is an HTML file"
        ) from exc
    # libxml2 stops building the tree 256 elements deep and drops what lies below: say so, not "no text".
    if any("Excessive depth" in error.message for error in parser.error_log):
        raise DocumentParseError(
            f"{filename} nests elements more than 256 deep, deeper than the HTML parser reads (the text below "
            "would be lost); close its tags, or save the page again from a browser"
        )
    return root


def _write_blocks(content: HtmlElement, lead_heading: str) -> tuple[str, list[Section], list[TableSpan]]:
    writer = _BlockWriter()
    if lead_heading:
        writer.heading(1, lead_heading)
    writer.walk(content)
    writer.flush()
    return writer.builder.build()


class _BlockWriter:
    """Walks an element tree and emits text blocks into a ``TextBuilder``."""

    def __init__(self) -> None:
        self.builder = TextBuilder()
        self.inline: list[str] = []
        self.prefix = ""
        self.stack: list[tuple[int, str]] = []  # (level, title) of the enclosing headings
        self.numbers: dict[HtmlElement, int] = {}  # <ol> -> items numbered so far

    def item_marker(self, item: HtmlElement) -> str:
        """``"- "`` for a bullet, ``"3. "`` for the third item of an ordered list.

        Items are numbered as the walk reaches them (in document order), so a list of
        100,000 items costs linear time, not a count of the preceding siblings per item.
        """
        parent = item.getparent()
        if parent is None or parent.tag != "ol":
            return "- "
        self.numbers[parent] = number = self.numbers.get(parent, 0) + 1
        return f"{number}. "

    def path(self) -> tuple[str, ...]:
        return tuple(title for _, title in self.stack)

    def emit(self, block: str) -> tuple[int, int] | None:
        return self.builder.add(block, heading_path=self.path())

    def flush(self) -> None:
        lines = (" ".join(line.split()) for line in _INVISIBLE.sub("", "".join(self.inline)).split(_BR))
        block = "\n".join(line for line in lines if line)
        if block:
            self.emit(self.prefix + block)
            self.prefix = ""
        self.inline = []

    def heading(self, level: int, title: str) -> None:
        self.stack = [(lvl, t) for lvl, t in self.stack if lvl < level] + [(level, title)]
        self.emit(title)

    def walk(self, el: HtmlElement) -> None:
        if not isinstance(el.tag, str):  # comments, processing instructions
            return
        tag = el.tag.lower()
        if tag in _HEADINGS:
            self.flush()
            if title := _flat_text(el):
                self.heading(int(tag[1]), title)
        elif tag == "table":
            self.flush()
            self.table(el)
        elif tag == "pre":
            self.flush()
            lines = [line.rstrip() for line in _INVISIBLE.sub("", el.text_content()).split("\n")]
            self.emit(textwrap.dedent("\n".join(lines).strip("\n")))  # blocks are stripped: keep relative indent
        elif tag == "br":
            self.inline.append(_BR)
        elif tag == "hr":
            self.flush()
        else:
            block = tag in _BLOCKS
            if block:
                self.flush()
            if tag == "li":
                self.prefix = self.item_marker(el)
            self.inline.append(el.text or "")
            for child in el:
                self.walk(child)
                self.inline.append(child.tail or "")
            if block:
                self.flush()

    def table(self, table: HtmlElement) -> None:
        # The caption goes before the span: it titles the table but is not a row of it, so it is not repeated.
        for caption in table.findall("caption"):
            self.emit(_flat_text(caption))
        rows = table.xpath("./tr | ./thead/tr | ./tbody/tr | ./tfoot/tr")
        n_header = _count_header_rows(rows)
        spans: list[tuple[int, int]] = []  # of the rows that wrote text
        n_header_spans = 0
        for index, row in enumerate(rows):
            cells = [_flat_text(cell) for cell in row.xpath("./td | ./th")]
            span = self.emit(" | ".join(_merge_cells([c for c in cells if c])))
            if span is not None:
                spans.append(span)
                n_header_spans += index < n_header
        if spans:
            header_end = spans[n_header_spans - 1][1] if n_header_spans else spans[0][0]
            self.builder.mark_table(spans[0][0], spans[-1][1], header_end)


def _count_header_rows(rows: list[HtmlElement]) -> int:
    """How many leading rows are header rows: those of ``<thead>``, else those made only of ``<th>`` cells."""
    in_head = [row.getparent().tag == "thead" for row in rows]
    if not any(in_head):
        cells = [row.xpath("./td | ./th") for row in rows]
        in_head = [bool(row_cells) and all(cell.tag == "th" for cell in row_cells) for row_cells in cells]
    return next((index for index, head in enumerate(in_head) if not head), len(rows))


def _merge_cells(cells: list[str]) -> list[str]:
    """Re-attach cells that financial tables split off: "$" | "1,234" | ")" -> "$1,234)"."""
    merged: list[str] = []
    for cell in cells:
        if merged and (merged[-1] in {"$", "€", "£", "¥", "("} or cell in {")", "%", ")%", "%)"}):
            merged[-1] += cell
        else:
            merged.append(cell)
    return merged


def _flat_text(el: HtmlElement) -> str:
    """Text of an element on one line, with a space where block elements or ``<br>`` meet."""
    parts: list[str] = []

    def visit(node: HtmlElement) -> None:
        tag = node.tag.lower() if isinstance(node.tag, str) else ""
        spaced = tag in _BLOCKS or tag in {"br", "td", "th"}
        if spaced:
            parts.append(" ")
        if isinstance(node.tag, str):
            parts.append(node.text or "")
            for child in node:
                visit(child)
                parts.append(child.tail or "")
        if spaced:
            parts.append(" ")

    visit(el)
    return " ".join(_INVISIBLE.sub("", "".join(parts)).split())
