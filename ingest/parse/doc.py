"""Legacy Word parser (``.doc``, Word 97-2003), through Debian's ``antiword``.

No maintained Python library reads the binary Word format; ``antiword``
(Debian package ``antiword``) does, in a separate process with a time limit.
It is asked for DocBook XML (``-x db``), which keeps what its text output
loses: headings (``sect1``... titles, found by Word's built-in style numbers,
so headings named in any language are headings), lists and tables. The XML is
rendered like the other word-processing parsers' text: ``#`` headings, ``-`` or
``1.`` list items, GFM pipe tables with the first row as header. Where
antiword writes XML that does not parse, its plain-text output (``-m
UTF-8.txt``, paragraphs unwrapped) is used instead: titles are then lines of
their own, without heading structure.

Without ``antiword`` installed a ``.doc`` gets a 422 naming the package to
install. Word 6/95 files, and encrypted ones, are refused with antiword's reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import PurePath

from lxml import etree

from ingest.errors import DocumentParseError, EncryptedDocumentError, MissingToolError, NoTextError

from .builder import TextBuilder
from .common import clip_heading, collapse_spaces
from .types import ParsedDocument

MEDIA_TYPE = "application/msword"
TIMEOUT_S = 60.0  # antiword reads a 500-page document in about a second
_SECTIONS = frozenset(("chapter", "sect1", "sect2", "sect3", "sect4", "sect5", "section"))
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def parse(data: bytes, filename: str) -> ParsedDocument:
    """Parse a Word 97-2003 document with ``antiword``.

    Returns:
        A document with sections per heading and the tables' spans.

    Raises:
        MissingToolError: ``antiword`` is not installed.
        EncryptedDocumentError: the document is password-protected.
        DocumentParseError: antiword cannot read it, or takes longer than ``TIMEOUT_S``.
        NoTextError: the document holds no text.
    """
    xml = antiword(data, filename, ["-x", "db"])
    try:
        root = etree.fromstring(xml, _PARSER)
    except etree.XMLSyntaxError:
        root = None
    writer = _DocBookWriter()
    if root is not None:
        writer.element(root, 0)
    else:
        for block in antiword(data, filename, ["-w", "0", "-m", "UTF-8.txt"]).decode("utf-8", "replace").split("\n\n"):
            writer.emit(collapse_spaces(block))
    text, sections, tables = writer.builder.build()
    if not text.strip():
        raise NoTextError(f"{filename} holds no text; if it holds scanned pages, save it as PDF and upload that")
    return ParsedDocument(
        text=text,
        sections=sections,
        media_type=MEDIA_TYPE,
        title=writer.title or PurePath(filename).stem or None,
        tables=tables,
    )


def antiword(data: bytes, filename: str, options: list[str]) -> bytes:
    """Run ``antiword`` with ``options`` on ``data`` (written to a temporary file) and return its output.

    Raises:
        MissingToolError, EncryptedDocumentError, DocumentParseError: see ``parse``.
    """
    program = shutil.which("antiword")
    if program is None:
        raise MissingToolError(
            f"{filename} is a Word 97-2003 document (.doc), read with antiword, which is not installed on the "
            "server: install Debian's antiword package (apt-get install antiword), or save the file as .docx"
        )
    with tempfile.NamedTemporaryFile(suffix=".doc") as file:
        file.write(data)
        file.flush()
        env = {**os.environ, "LC_ALL": "C.UTF-8"}
        try:
            done = subprocess.run([program, *options, file.name], capture_output=True, timeout=TIMEOUT_S, env=env)
        except subprocess.TimeoutExpired as exc:
            raise DocumentParseError(
                f"antiword took more than {TIMEOUT_S:.0f} s to read {filename}; save it as .docx and upload that"
            ) from exc
    reason = done.stderr.decode("utf-8", "replace").replace(file.name, filename).strip()
    if done.returncode != 0 or not done.stdout.strip():
        if "encrypt" in reason.lower() or "password" in reason.lower():
            raise EncryptedDocumentError(
                f"{filename} is password-protected; open it in Word, remove the password, save it as .docx "
                "and upload that"
            )
        raise DocumentParseError(
            f"{filename} could not be read as a Word 97-2003 document ({reason or 'antiword failed'}); "
            "check that it opens in Word, or save it as .docx and upload that"
        )
    return done.stdout


class _DocBookWriter:
    """Writes antiword's DocBook as text into a ``TextBuilder``, one heading level per titled section."""

    def __init__(self) -> None:
        self.builder = TextBuilder()
        self.title = ""
        self._path: list[str] = []

    def element(self, el: etree._Element, depth: int) -> None:
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag == "bookinfo":
            self.title = clip_heading(_text(el.find("title")))
        elif tag in _SECTIONS:
            self.section(el, depth)
        elif tag == "para":
            self.emit(_text(el, keep_lines=True))
        elif tag in ("itemizedlist", "orderedlist"):
            self.emit("\n".join(_list_lines(el, 0)))
        elif tag in ("informaltable", "table"):
            self.table(el)
        else:
            for child in el:
                self.element(child, depth)

    def section(self, el: etree._Element, depth: int) -> None:
        title = _text(el.find("title"))
        saved = list(self._path)
        if title:
            self._path.append(title)
            self.emit("#" * min(len(self._path), 6) + " " + title)
        for child in el:
            if child.tag != "title":
                self.element(child, depth + 1)
        self._path = saved

    def table(self, el: etree._Element) -> None:
        rows = [[_text(entry) for entry in row.iter("entry")] for row in el.iter("row")]
        rows = [row for row in rows if any(row)]
        if rows:
            self.builder.add_table(rows[0], rows[1:], heading_path=tuple(self._path))

    def emit(self, block: str) -> tuple[int, int] | None:
        return self.builder.add(block, heading_path=tuple(self._path))


def _text(el: etree._Element | None, keep_lines: bool = False) -> str:
    """The text in ``el``; with ``keep_lines`` line breaks stay (spaces collapsed), else all whitespace is one space."""
    if el is None:
        return ""
    text = "".join(el.itertext())
    return collapse_spaces(text).strip() if keep_lines else " ".join(text.split())


def _list_lines(el: etree._Element, depth: int) -> list[str]:
    """``- item`` or ``1. item`` lines of a DocBook list, nested lists indented below their item."""
    lines: list[str] = []
    for number, item in enumerate(el.iterfind("listitem"), start=1):
        marker = f"{number}." if el.tag == "orderedlist" else "-"
        for child in item:
            if child.tag in ("itemizedlist", "orderedlist"):
                lines.extend(_list_lines(child, depth + 1))
            elif text := _text(child):
                lines.append("  " * depth + f"{marker} {text}")
                marker = " " * len(marker)
    return lines
