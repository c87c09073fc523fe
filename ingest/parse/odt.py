"""OpenDocument text parser (``.odt``): ``content.xml`` read with lxml.

The container is opened through ``container`` (its limits against ZIP bombs)
and ``content.xml`` parsed with lxml, which resolves no entities; odfpy would
build its own object tree of the whole file just to walk the same elements.
The text is rendered as the Word parser renders it: headings (``text:h``, at
their ``text:outline-level``) as ``#`` lines, list items as ``-`` or ``1.``
lines, tables as GFM pipe tables with the first row as header, paragraphs
separated by blank lines; text boxes follow the paragraph that anchors them;
footnotes and endnotes (marked ``[1]`` where cited), comments and the text of
the headers and footers come after the body under their own headings. Headers
and footers live in ``styles.xml``'s master pages (``style:header``,
``style:footer`` and their ``-left`` and ``-first`` variants); as for Word,
each distinct line is written once, not once per page or per master page.
Deleted text of tracked changes is left out.
The title is the first paragraph in the "Title" style, else ``meta.xml``'s.

A password-protected file (its manifest lists ``encryption-data``) is refused:
its parts are encrypted with a scheme no maintained Python library reads.
"""

from __future__ import annotations

from pathlib import PurePath

from lxml import etree

from ingest.errors import DocumentParseError, EncryptedDocumentError, NoTextError

from .common import clip_heading, collapse_spaces
from .container import has_member, open_zip, read_member
from .outline import OutlineWriter
from .types import ParsedDocument

MEDIA_TYPE = "application/vnd.oasis.opendocument.text"
NS = {
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "style": "urn:oasis:names:tc:opendocument:xmlns:style:1.0",
    "draw": "urn:oasis:names:tc:opendocument:xmlns:drawing:1.0",
    "dc": "http://purl.org/dc/elements/1.1/",
}
MAX_REPEAT = 1_000  # LibreOffice writes "1,024 empty columns" as one repeated cell


def q(name: str) -> str:
    """``"text:p"`` as a Clark name."""
    prefix, local = name.split(":")
    return f"{{{NS[prefix]}}}{local}"


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)
_BLOCK_CONTAINERS = frozenset(map(q, ("text:section", "text:soft-page-break", "office:text", "draw:text-box")))
_SKIP_INLINE = frozenset(map(q, ("text:tracked-changes", "office:annotation-end", "text:note-citation")))
# a master page's headers and footers: every page's, left (even) pages', the first page's
_PAGE_PARTS = frozenset(q(f"style:{part}{pages}") for part in ("header", "footer") for pages in ("", "-left", "-first"))


def parse(data: bytes, filename: str) -> ParsedDocument:
    """Parse an OpenDocument text into sections per heading.

    Returns:
        The body, then footnotes, endnotes, comments, headers and footers; ``tables`` holds each table's span.

    Raises:
        EncryptedDocumentError: the file is password-protected.
        DocumentParseError: the package or its XML is corrupt, or over the container's limits.
        NoTextError: the document holds no text.
    """
    zf = open_zip(data, filename)
    if has_member(zf, "META-INF/manifest.xml") and b"encryption-data" in read_member(zf, "META-INF/manifest.xml"):
        raise EncryptedDocumentError(
            f"{filename} is password-protected; password-protected OpenDocument files cannot be read: save it "
            "without a password (File > Save As, untick 'Save with password') and upload it again"
        )
    content = _xml(zf, "content.xml", filename)
    styles = _xml(zf, "styles.xml", filename) if has_member(zf, "styles.xml") else None
    writer = _Writer(_StyleIndex(content, styles))
    for body in content.iterfind("office:body/office:text", NS):
        writer.blocks(body)
    writer.appendix("Footnotes", writer.footnotes)
    writer.appendix("Endnotes", writer.endnotes)
    writer.appendix("Comments", writer.comments)
    writer.headers_and_footers(styles)
    text, sections, tables = writer.builder.build()
    if not text.strip():
        raise NoTextError(f"{filename} holds no text; if it holds scanned pages, save it as PDF and upload that")
    title = writer.title or _meta_title(zf, filename)
    return ParsedDocument(
        text=text,
        sections=sections,
        media_type=MEDIA_TYPE,
        title=title or PurePath(filename).stem or None,
        tables=tables,
    )


def _xml(zf, name: str, filename: str) -> etree._Element:
    try:
        return etree.fromstring(read_member(zf, name), _PARSER)
    except KeyError as exc:
        raise DocumentParseError(f"{filename} has no {name}; it is not an OpenDocument text: check the file") from exc
    except etree.XMLSyntaxError as exc:
        raise DocumentParseError(f"{filename}: {name} is not well-formed XML ({exc}); the file is corrupt") from exc


def _meta_title(zf, filename: str) -> str:
    if not has_member(zf, "meta.xml"):
        return ""
    title = _xml(zf, "meta.xml", filename).find("office:meta/dc:title", NS)
    return clip_heading(" ".join((title.text or "").split())) if title is not None else ""


class _StyleIndex:
    """Paragraph styles' parents and list styles' numbering, from ``content.xml`` and ``styles.xml``."""

    def __init__(self, *roots: etree._Element | None) -> None:
        self.parents: dict[str, str] = {}
        self.numbered: dict[tuple[str, int], bool] = {}
        for root in roots:
            if root is None:
                continue
            for style in root.iter(q("style:style")):
                self.parents[style.get(q("style:name"), "")] = style.get(q("style:parent-style-name"), "")
            for list_style in root.iter(q("text:list-style")):
                for level in list_style:
                    key = (list_style.get(q("style:name"), ""), int(level.get(q("text:level"), "1") or 1))
                    self.numbered[key] = level.tag == q("text:list-level-style-number")

    def is_title(self, style: str) -> bool:
        for _ in range(20):  # a parent cycle must not loop
            if style in ("Title", ""):
                return style == "Title"
            style = self.parents.get(style, "")
        return False


class _Writer(OutlineWriter):
    """Writes ODF blocks as text under their headings (``OutlineWriter``), lists, notes and comments."""

    def __init__(self, styles: _StyleIndex) -> None:
        super().__init__()
        self.styles = styles
        self.title = ""
        self.footnotes: list[str] = []
        self.endnotes: list[str] = []
        self.comments: list[str] = []

    def blocks(self, container: etree._Element) -> None:
        for child in container:
            tag = child.tag
            if tag == q("text:h"):
                self.heading(int(child.get(q("text:outline-level"), "1") or 1), self.inline(child))
            elif tag == q("text:p"):
                self.paragraph(child)
            elif tag == q("text:list"):
                self.list(child, child.get(q("text:style-name"), ""), 1)
            elif tag == q("table:table"):
                self.table(child)
            elif tag in _BLOCK_CONTAINERS:
                self.blocks(child)
        self.flush_list()

    def paragraph(self, p: etree._Element) -> None:
        text = self.inline(p)
        if text and not self.title and self.styles.is_title(p.get(q("text:style-name"), "")):
            self.title = clip_heading(" ".join(text.split()))
        self.emit(text)
        for box in p.iter(q("draw:text-box")):
            self.blocks(box)

    def list(self, el: etree._Element, style: str, depth: int) -> None:
        number = 0
        for item in el.iterfind("text:list-item", NS):
            number += 1
            marker = f"{number}." if self.styles.numbered.get((style, depth)) else "-"
            for child in item:
                if child.tag == q("text:list"):
                    self.list(child, child.get(q("text:style-name"), style), depth + 1)
                elif child.tag in (q("text:p"), q("text:h")) and (text := self.inline(child)):
                    self.list_items.append("  " * (depth - 1) + f"{marker} " + " ".join(text.split()))
                    marker = " " * len(marker)  # more paragraphs of the same item
        if depth == 1:
            self.flush_list()

    def heading(self, level: int, title: str) -> None:
        title = " ".join(title.split())
        if not title:
            return
        super().heading(max(1, min(level, 10)), title)

    def table(self, table: etree._Element) -> None:
        rows = [row for row in _rows(table, self) if any(row)]
        if not rows:
            return
        self.emit_table(rows)

    def inline(self, el: etree._Element) -> str:
        """The text of a paragraph: spans, links, fields, ``text:s`` spaces; notes and comments set aside."""
        out = [el.text or ""]
        stack = [(el, iter(el))]
        while stack:  # an explicit stack, with each element's tail written after its children
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                out.append((node.tail or "") if stack else "")
                continue
            if self._special(child, out):
                out.append(child.tail or "")
                continue
            out.append(child.text or "")
            stack.append((child, iter(child)))
        return collapse_spaces("".join(out).replace("\t", " ")).strip()

    def _special(self, child: etree._Element, out: list[str]) -> bool:
        """Write an element that is not plain nested text; False for those to descend into."""
        tag = child.tag
        if tag == q("text:s"):
            out.append(" " * min(int(child.get(q("text:c"), "1") or 1), 100))
        elif tag in (q("text:tab"), q("text:line-break")):
            out.append("\t" if tag == q("text:tab") else "\n")
        elif tag == q("text:note"):
            out.append(self._note(child))
        elif tag == q("office:annotation"):
            author = child.findtext("dc:creator", "", NS).strip()
            text = "\n".join(self.inline(p) for p in child.iter(q("text:p")))
            self.comments.append(f"{author}: {text}" if author else text)
        elif tag not in _SKIP_INLINE and tag != q("draw:frame"):
            return False
        return True

    def _note(self, note: etree._Element) -> str:
        notes = self.endnotes if note.get(q("text:note-class")) == "endnote" else self.footnotes
        label = "".join(note.findtext("text:note-citation", "", NS).split()) or str(len(notes) + 1)
        label = f"[E{label}]" if notes is self.endnotes else f"[{label}]"
        body = note.find("text:note-body", NS)
        notes.append(
            f"{label} " + "\n".join(self.inline(p) for p in body.iter(q("text:p"))) if body is not None else label
        )
        return label

    def headers_and_footers(self, styles: etree._Element | None) -> None:
        """The master pages' headers and footers under their own heading, each distinct line once."""
        lines: list[str] = []
        pages = styles.iterfind("office:master-styles/style:master-page", NS) if styles is not None else ()
        for part in (part for page in pages for part in page if part.tag in _PAGE_PARTS):
            if part.get(q("style:display")) == "false":  # switched off in the page style
                continue
            for p in part.iter(q("text:p"), q("text:h")):
                lines.extend(line for line in self.inline(p).split("\n") if line.strip() and line not in lines)
        self.appendix("Headers and footers", lines)

    def appendix(self, heading: str, items: list[str]) -> None:
        if any(item.strip() for item in items):
            self.heading(1, heading)
            for item in items:
                self.emit(item)


def _rows(table: etree._Element, writer: _Writer) -> list[list[str]]:
    """The cell texts of a table's rows; repeated rows and cells expanded (at most ``MAX_REPEAT``), merges repeated."""
    rows: list[list[str]] = []
    for row in _row_elements(table):
        cells: list[str] = []
        span_text, span_left = "", 0
        for cell in row:
            repeat = min(int(cell.get(q("table:number-columns-repeated"), "1") or 1), MAX_REPEAT)
            if cell.tag == q("table:table-cell"):
                text = " ".join(writer.inline(p) for p in cell.iter(q("text:p"), q("text:h")))
                span_text, span_left = text, int(cell.get(q("table:number-columns-spanned"), "1") or 1) - 1
            elif cell.tag == q("table:covered-table-cell"):
                above = rows[-1][len(cells)] if rows and len(cells) < len(rows[-1]) else ""
                text, span_left = (span_text, span_left - 1) if span_left > 0 else (above, 0)
            else:
                continue
            cells.extend([text] * repeat)
            if len(cells) > MAX_REPEAT:
                break
        while cells and not cells[-1]:
            cells.pop()
        repeat = min(int(row.get(q("table:number-rows-repeated"), "1") or 1), MAX_REPEAT) if any(cells) else 1
        rows.extend([cells] * repeat)
    return rows


def _row_elements(table: etree._Element) -> list[etree._Element]:
    """``table:table-row`` elements of this table (in header, body and row groups), not of tables in its cells."""
    depth = int(table.xpath("count(ancestor-or-self::table:table)", namespaces=NS))
    return table.xpath(f".//table:table-row[count(ancestor::table:table) = {depth}]", namespaces=NS)
