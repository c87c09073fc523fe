"""WordprocessingML, the XML inside a ``.docx``: styles, list numbering, notes, and the text of runs.

``inline_text`` reads what a reader sees of a paragraph: text of runs,
hyperlinks, fields' results, content controls and tracked insertions, tabs and
breaks, footnote markers; it leaves out deleted text, field instructions,
ruby annotations and the fallback copy Word keeps of every text box
(``mc:Fallback``), and hands text boxes back to be written as paragraphs of
their own. ``Styles`` and ``Numbering`` answer, per paragraph, its heading
level and list marker; ``Notes`` numbers footnotes in the order the body
refers to them. ``docx`` puts these together into text and sections.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
MC_NS = "http://schemas.openxmlformats.org/markup-compatibility/2006"
NS = {"w": W_NS, "mc": MC_NS}


def w(tag: str) -> str:
    """The Clark name (``{namespace}tag``) of a WordprocessingML element or attribute."""
    return f"{{{W_NS}}}{tag}"


class RT:
    """Relationship types of the parts read besides the main document."""

    _BASE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
    FOOTNOTES = _BASE + "footnotes"
    ENDNOTES = _BASE + "endnotes"
    COMMENTS = _BASE + "comments"
    NUMBERING = _BASE + "numbering"
    STYLES = _BASE + "styles"
    HEADER = _BASE + "header"
    FOOTER = _BASE + "footer"


P, T, TBL, TXBX = w("p"), w("t"), w("tbl"), w("txbxContent")
_VAL = w("val")
_SKIP = frozenset(
    [w(t) for t in ("del", "moveFrom", "pPr", "rPr", "sdtPr", "instrText", "delInstrText", "rt", "footnoteRef")]
    + [f"{{{MC_NS}}}Fallback"]
)
_CHARS = {w("tab"): "\t", w("ptab"): "\t", w("br"): "\n", w("cr"): "\n", w("noBreakHyphen"): "-"}
_NOTE_REFS = {w("footnoteReference"): "footnote", w("endnoteReference"): "endnote"}
_HEADING_NAME = re.compile(r"^heading\s*([1-9])$", re.IGNORECASE)
# No entities (no XXE, no billion laughs), no network, libxml2's default depth and size limits.
_PARAGRAPHS = etree.XPath(".//w:p[not(ancestor::mc:Fallback)]", namespaces=NS)
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=False)


def parse_part(blob: bytes) -> etree._Element:
    """Parse one XML part of the package (already bounded by ``container``)."""
    return etree.fromstring(blob, _PARSER)


def attr(el: etree._Element | None, path: str, name: str = "val") -> str | None:
    """The ``w:name`` attribute of the first element at ``path`` (``w:`` prefixed) under ``el``."""
    if el is None:
        return None
    found = el.find(path, NS)
    return None if found is None else found.get(w(name))


def inline_text(el: etree._Element, note_marker=None) -> tuple[str, list[etree._Element]]:
    """The visible text of a paragraph (or any element) and the text boxes found in it.

    Args:
        el: a ``w:p`` or an element holding runs.
        note_marker: ``(kind, note_id) -> str`` for footnote and endnote references, or None to drop them.

    Returns:
        ``(text, text_boxes)``: tabs and breaks kept as ``\\t`` and ``\\n``; the
        ``w:txbxContent`` elements, whose paragraphs are not in the text.
    """
    out: list[str] = []
    boxes: list[etree._Element] = []
    stack = [iter(el)]
    while stack:  # an explicit stack: no recursion limit to reach on deep XML
        node = next(stack[-1], None)
        if node is None:
            stack.pop()
            continue
        tag = node.tag
        if not isinstance(tag, str) or tag in _SKIP:
            continue
        if tag == T:
            out.append(node.text or "")
        elif tag in _CHARS:
            out.append(_CHARS[tag])
        elif tag in _NOTE_REFS:
            out.append(note_marker(_NOTE_REFS[tag], node.get(w("id"))) if note_marker else "")
        elif tag == TXBX:
            boxes.append(node)
        elif len(node):
            stack.append(iter(node))
    return "".join(out), boxes


def block_text(el: etree._Element) -> str:
    """All paragraphs under ``el`` (a table cell, a note) joined by newlines; text boxes included once."""
    paragraphs = _PARAGRAPHS(el)
    return "\n".join(inline_text(p)[0] for p in paragraphs)


@dataclass(frozen=True)
class ParagraphStyle:
    """What a paragraph's style chain says: its name, outline level (0-8) and list numbering."""

    name: str = ""
    outline: int | None = None
    num: tuple[str, str] | None = None  # (numId, ilvl)


class Styles:
    """Paragraph styles by id, resolved through ``basedOn`` to a ``ParagraphStyle``."""

    def __init__(self, root: etree._Element | None) -> None:
        self._by_id: dict[str, etree._Element] = {}
        self.default: str | None = None
        for style in root.iterfind("w:style", NS) if root is not None else ():
            if style.get(w("type")) == "paragraph" and (style_id := style.get(w("styleId"))):
                self._by_id[style_id] = style
                if style.get(w("default")) in ("1", "true", "on"):
                    self.default = style_id
        self._resolved: dict[str | None, ParagraphStyle] = {}

    def get(self, style_id: str | None) -> ParagraphStyle:
        if style_id not in self._resolved:
            self._resolved[style_id] = self._resolve(style_id)
        return self._resolved[style_id]

    def _resolve(self, style_id: str | None) -> ParagraphStyle:
        name, outline, num = "", None, None
        for _ in range(20):  # basedOn chains are short; a cycle must not loop
            style = self._by_id.get(style_id or "")
            if style is None:
                break
            name = name or attr(style, "w:name") or ""
            level = attr(style, "w:pPr/w:outlineLvl")
            outline = outline if outline is not None else _int(level)
            num = num or _num(style.find("w:pPr/w:numPr", NS))
            style_id = attr(style, "w:basedOn")
        return ParagraphStyle(name, outline, num)

    def of(self, p: etree._Element) -> tuple[ParagraphStyle, int | None, tuple[str, str] | None]:
        """A paragraph's style, heading level (1-based; None for body text) and numbering."""
        ppr = p.find("w:pPr", NS)
        style = self.get(attr(ppr, "w:pStyle") or self.default)
        own = _int(attr(ppr, "w:outlineLvl"))
        outline = own if own is not None else style.outline
        level = outline + 1 if outline is not None and 0 <= outline <= 8 else None
        if level is None and (match := _HEADING_NAME.match(style.name)):
            level = int(match.group(1))
        own_num = ppr.find("w:numPr", NS) if ppr is not None else None
        return style, level, style.num if own_num is None else _num(own_num)  # numId 0 switches the style's off


class Numbering:
    """List formats from ``numbering.xml``: whether an item is bulleted, and its number."""

    def __init__(self, root: etree._Element | None) -> None:
        formats: dict[str, dict[str, str]] = {}
        self._nums: dict[str, str] = {}
        for abstract in root.iterfind("w:abstractNum", NS) if root is not None else ():
            levels = {lvl.get(w("ilvl")): attr(lvl, "w:numFmt") or "bullet" for lvl in abstract.iterfind("w:lvl", NS)}
            formats[abstract.get(w("abstractNumId"))] = levels
        for num in root.iterfind("w:num", NS) if root is not None else ():
            self._nums[num.get(w("numId"))] = attr(num, "w:abstractNumId") or ""
        self._formats = formats
        self._counters: dict[str, list[int]] = {}

    def marker(self, num_id: str, ilvl: str) -> str:
        """The marker of the next item of list ``num_id`` at level ``ilvl``: ``-`` or ``N.``."""
        level = min(_int(ilvl) or 0, 8)
        fmt = self._formats.get(self._nums.get(num_id, ""), {}).get(str(level), "bullet")
        counters = self._counters.setdefault(num_id, [0] * 9)
        counters[level] += 1
        counters[level + 1 :] = [0] * (8 - level)
        return "-" if fmt in ("bullet", "none") else f"{counters[level]}."


class Notes:
    """Footnotes (or endnotes) by id, numbered in the order the body refers to them."""

    def __init__(self, root: etree._Element | None, tag: str, prefix: str = "") -> None:
        self.prefix = prefix
        self.bodies = {
            note.get(w("id")): note
            for note in (root.iterfind(f"w:{tag}", NS) if root is not None else ())
            if note.get(w("type")) in (None, "normal")
        }
        self.numbers: dict[str, int] = {}

    def marker(self, note_id: str | None) -> str:
        """``[n]`` for a reference to note ``note_id`` (numbered on first reference); empty for an unknown id."""
        if note_id not in self.bodies:
            return ""
        number = self.numbers.setdefault(note_id, len(self.numbers) + 1)
        return f"[{self.prefix}{number}]"

    def items(self) -> list[tuple[str, etree._Element]]:
        """``(label, note)`` in number order; notes the body never refers to come last."""
        for note_id in self.bodies:
            self.marker(note_id)
        return [(f"[{self.prefix}{n}]", self.bodies[i]) for i, n in sorted(self.numbers.items(), key=lambda x: x[1])]


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _num(num_pr: etree._Element | None) -> tuple[str, str] | None:
    """``(numId, ilvl)`` of a ``w:numPr``; None when absent or ``numId`` 0 (numbering switched off)."""
    num_id = attr(num_pr, "w:numId")
    if not num_id or num_id == "0":
        return None
    return num_id, attr(num_pr, "w:ilvl") or "0"
