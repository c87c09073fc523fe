"""Word parser (``.docx``), through python-docx.

python-docx opens the package and resolves its parts and styles; the text is
read from the WordprocessingML itself (``wordml``), because python-docx's
``Paragraph.text`` drops tracked insertions, content controls and text boxes.
The text is rendered the way the Markdown parser reads it: headings as ``#``
lines, list items as ``-`` or ``1.`` lines, tables as GFM pipe tables (the
first row is the header, which the chunker repeats), paragraphs separated by
blank lines. After the body come, each under its own heading, the
footnotes and endnotes (numbered ``[1]`` where the body refers to them), the
comments, and the text of headers and footers.

Headings are paragraphs with an outline level (their own, or their style's
through ``basedOn``; Word gives every built-in heading style one whatever the
language of its name) or a style named "heading N". The first paragraph in
the "Title" style is the document's title (the core properties' title where
there is none); it is not a level of the heading path.

Hostile input: the container's limits are checked (``container.open_zip``)
before python-docx reads any part; the XML parser resolves no entities;
relationships to external targets (linked images, templates, hyperlinks)
are never followed, only the package's own parts are read.
"""

from __future__ import annotations

import io
from pathlib import PurePath

from lxml import etree

from ingest.errors import DocumentParseError, NoTextError

from .common import clip_heading, collapse_spaces
from .container import open_zip
from .outline import OutlineWriter
from .types import ParsedDocument
from .wordml import NS, RT, TBL, Notes, Numbering, P, Styles, attr, block_text, inline_text, parse_part, w

MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_WRAPPERS = frozenset((w("sdt"), w("sdtContent"), w("customXml"), w("smartTag"), w("ins"), w("moveTo")))


def parse(data: bytes, filename: str) -> ParsedDocument:
    """Parse a Word document into sections per heading.

    Args:
        data: the raw bytes of a ``.docx`` package (decrypted already: see ``container.unlock_ooxml``).
        filename: used in error messages; its stem is the title's last fallback.

    Returns:
        A document whose text is the body, then notes, comments, headers and
        footers; sections carry heading paths; ``tables`` holds each table's span.

    Raises:
        DocumentParseError: the package is corrupt, not a Word document, or over the container's limits.
        NoTextError: the document holds no text.
    """
    open_zip(data, filename)  # the limits, before python-docx reads every part
    document = _open(data, filename)
    part = document.part
    writer = _Writer(
        Styles(_related(part, RT.STYLES)),
        Numbering(_related(part, RT.NUMBERING)),
        Notes(_related(part, RT.FOOTNOTES), "footnote"),
        Notes(_related(part, RT.ENDNOTES), "endnote", prefix="E"),
    )
    writer.blocks(document.element.body)
    writer.notes("Footnotes", writer.footnotes)
    writer.notes("Endnotes", writer.endnotes)
    writer.comments(_related(part, RT.COMMENTS))
    writer.headers_and_footers([_part_root(rel) for rel in _rels(part, RT.HEADER) + _rels(part, RT.FOOTER)])
    text, sections, tables = writer.builder.build()
    if not text.strip():
        raise NoTextError(f"{filename} holds no text; if it holds scanned pages, save it as PDF and upload that")
    title = writer.title or clip_heading((document.core_properties.title or "").strip())
    author = (document.core_properties.author or "").strip()
    return ParsedDocument(
        text=text,
        sections=sections,
        media_type=MEDIA_TYPE,
        title=title or PurePath(filename).stem or None,
        metadata={"author": author} if author else {},
        tables=tables,
    )


def _open(data: bytes, filename: str):
    """The python-docx ``Document`` of ``data``; any failure of the package is the file's fault."""
    import docx

    try:
        return docx.Document(io.BytesIO(data))
    except MemoryError:
        raise
    except Exception as exc:  # python-docx raises KeyError, ValueError, lxml errors... on a broken package
        raise DocumentParseError(
            f"{filename} could not be read as a Word document ({type(exc).__name__}: {exc}); "
            "check that it opens in Word, or save it again as .docx"
        ) from exc


def _rels(part, reltype: str) -> list:
    """The relationships of ``part`` of type ``reltype`` to parts of the package, each target once.

    External relationships (``TargetMode="External"``: linked images, templates) have no
    part and are left out: nothing outside the file is ever fetched.
    """
    found: dict[str, object] = {}
    for rel in part.rels.values():
        if rel.reltype == reltype and not rel.is_external:
            found.setdefault(rel.target_ref, rel)
    return list(found.values())


def _part_root(rel) -> etree._Element:
    return parse_part(rel.target_part.blob)


def _related(part, reltype: str) -> etree._Element | None:
    """The root element of the first part related by ``reltype``; None without one."""
    rels = _rels(part, reltype)
    return _part_root(rels[0]) if rels else None


class _Writer(OutlineWriter):
    """Writes blocks of WordprocessingML as text under their headings (``OutlineWriter``), lists and notes."""

    def __init__(self, styles: Styles, numbering: Numbering, footnotes: Notes, endnotes: Notes) -> None:
        super().__init__()
        self.styles, self.numbering = styles, numbering
        self.footnotes, self.endnotes = footnotes, endnotes
        self.title = ""

    def blocks(self, container: etree._Element) -> None:
        """Write the paragraphs and tables of a body, cell, text box or header, in order."""
        for child in container:
            if child.tag == P:
                self.paragraph(child)
            elif child.tag == TBL:
                self.table(child)
            elif child.tag in _WRAPPERS:
                self.blocks(child)
            elif child.tag == f"{{{NS['mc']}}}AlternateContent":
                self.blocks(child.find("mc:Choice", NS) if child.find("mc:Choice", NS) is not None else child)
        self.flush_list()

    def paragraph(self, p: etree._Element) -> None:
        raw, boxes = inline_text(p, self._note_marker)
        text = collapse_spaces(raw.replace("\t", " ")).strip()
        style, level, num = self.styles.of(p)
        if text and style.name.lower() == "title" and not self.title:
            self.title = clip_heading(" ".join(text.split()))
        if text and level is not None:  # numbered headings ("1.2 Scope") are headings first
            self.heading(level, " ".join(text.split()))
        elif text and num is not None:
            depth = min(int(num[1]) if num[1].isdigit() else 0, 8)
            self.list_items.append("  " * depth + f"{self.numbering.marker(*num)} " + " ".join(text.split()))
        elif text:
            self.emit(text)
        for box in boxes:
            self.blocks(box)

    def table(self, tbl: etree._Element) -> None:
        rows = _table_rows(tbl)
        if len(rows) == 1 and len(rows[0]) == 1:  # a one-cell table is a frame around text, not data
            for tc in tbl.iterfind("w:tr/w:tc", NS):
                self.blocks(tc)
            return
        if not rows:
            return
        self.emit_table(rows)

    def notes(self, heading: str, notes: Notes) -> None:
        items = [(label, block_text(note)) for label, note in notes.items()]
        self._appendix(heading, [f"{label} {text}" for label, text in items if text.strip()])

    def comments(self, root: etree._Element | None) -> None:
        found = root.iterfind("w:comment", NS) if root is not None else ()
        items = [(c.get(w("author")) or "", block_text(c)) for c in found]
        self._appendix("Comments", [f"{author}: {text}" if author else text for author, text in items if text.strip()])

    def headers_and_footers(self, roots: list[etree._Element]) -> None:
        lines: list[str] = []
        for root in roots:  # the first-page and default headers often say the same
            lines.extend(line for line in block_text(root).split("\n") if line.strip() and line not in lines)
        self._appendix("Headers and footers", lines)

    def _appendix(self, heading: str, items: list[str]) -> None:
        if items:
            self.heading(1, heading)
            for item in items:
                self.emit(collapse_spaces(item.replace("\t", " ")))

    def _note_marker(self, kind: str, note_id: str | None) -> str:
        return (self.footnotes if kind == "footnote" else self.endnotes).marker(note_id)


def _table_rows(tbl: etree._Element) -> list[list[str]]:
    """The cell texts of a table's rows, merged cells repeated in every grid column they cover; blank rows dropped."""
    rows: list[list[str]] = []
    previous: list[str] = []
    for tr in tbl.iterfind("w:tr", NS):
        row = [""] * (_int(attr(tr, "w:trPr/w:gridBefore")) or 0)
        for tc in tr.iterfind("w:tc", NS):
            merged = tc.find("w:tcPr/w:vMerge", NS)
            continued = merged is not None and merged.get(w("val")) in (None, "continue")
            text = previous[len(row)] if continued and len(row) < len(previous) else " ".join(block_text(tc).split())
            row.extend([text] * max(1, min(_int(attr(tc, "w:tcPr/w:gridSpan")) or 1, 64)))
        previous = row
        if any(row):
            rows.append(row)
    return rows


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None
