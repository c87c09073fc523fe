"""PowerPoint parser (``.pptx``), with python-pptx: one section per slide.

Each slide becomes one section located at "slide N" (1-based, in the deck's
order) under its title (``heading_path == (title,)``). Its text is the title,
then the text of its other shapes in reading order (top to bottom, then left
to right; grouped shapes recursively, in the same order within the group),
then its speaker notes as a block that starts with ``Notes:``. A paragraph
at outline level N > 0 is indented by 2N spaces and marked ``- ``, so
bullet levels stay readable. Tables become GFM pipe tables
(``ParsedDocument.tables``); a merged cell's text is in its first cell, the
cells it spans are empty. A chart contributes its title.

Pictures, media and anything a relationship marks ``TargetMode="External"``
(a linked image or video) are never read: the parser only reads text from the
package, it never opens a URL or a path outside it. The archive is checked with
``container.open_zip`` (decompression bombs) before python-pptx opens it.

The document's title is the deck's core-properties title (unless it is the
default "PowerPoint Presentation"), else the first slide's title, else the
file's stem.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from pathlib import PurePath

from pptx import Presentation
from pptx.shapes.group import GroupShape

from ingest.errors import DocumentParseError, NoTextError

from .builder import TextBuilder, column_names
from .container import open_zip
from .types import ParsedDocument

MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
MAX_SLIDES = 5_000
# Titles PowerPoint and Google Slides write into a deck nobody named: no better than the first slide's.
_DEFAULT_TITLES = {"powerpoint presentation", "presentation"}


def parse(data: bytes, filename: str) -> ParsedDocument:
    """Parse a PowerPoint deck into one located section per slide.

    Args:
        data: the file's bytes (a ``.pptx`` ZIP package).
        filename: its stem is the title when the deck has none; used in error messages.

    Returns:
        The slides' text with one section per slide that has text, and a
        ``TableSpan`` per table; ``metadata["slides"]`` is the number of slides.

    Raises:
        DocumentParseError: the bytes are not a readable deck, the archive breaks a
            ``container`` limit, or there are more than ``MAX_SLIDES`` slides.
        NoTextError: no slide holds any text.
    """
    deck = _open(data, filename)
    slides = list(deck.slides)
    if len(slides) > MAX_SLIDES:
        raise DocumentParseError(f"{filename} has {len(slides):,} slides; the limit is {MAX_SLIDES:,}: split the deck")
    builder = TextBuilder()
    first_title = None
    for number, slide in enumerate(slides, start=1):
        title = _slide_title(slide)
        first_title = first_title or title
        place = {"heading_path": (title,) if title else (), "location": f"slide {number}"}
        builder.add(title, **place)
        _add_shapes(builder, _reading_order(slide.shapes), place, skip=slide.shapes.title)
        notes = _notes(slide)
        builder.add(f"Notes: {notes}" if notes else "", **place)
    text, sections, tables = builder.build()
    if not sections:
        raise NoTextError(f"{filename} has no text on any slide; add text to the slides or upload a PDF to read by OCR")
    core_title = (deck.core_properties.title or "").strip()
    core_title = "" if core_title.lower() in _DEFAULT_TITLES else core_title
    return ParsedDocument(
        text=text,
        sections=sections,
        media_type=MEDIA_TYPE,
        title=core_title or first_title or PurePath(filename).stem or None,
        metadata={"slides": len(slides)},
        tables=tables,
    )


def _open(data: bytes, filename: str):
    """The deck as python-pptx reads it, after the archive passed the ``container`` limits."""
    open_zip(data, filename)
    try:
        return Presentation(io.BytesIO(data))
    except Exception as exc:  # python-pptx raises KeyError, ValueError, lxml errors... on a broken package
        raise DocumentParseError(
            f"{filename} is not a readable PowerPoint (.pptx) file ({type(exc).__name__}: {exc}); "
            "check that it opens in PowerPoint, or save it again as .pptx"
        ) from exc


def _slide_title(slide) -> str:
    """The text of the slide's title placeholder, on one line; empty when it has none."""
    shape = slide.shapes.title
    return " ".join(shape.text_frame.text.split()) if shape is not None and shape.has_text_frame else ""


def _reading_order(shapes: Iterable) -> list:
    """Shapes top to bottom, then left to right; shapes without a position keep their order, last."""
    placed = [shape for shape in shapes if shape.top is not None and shape.left is not None]
    unplaced = [shape for shape in shapes if shape.top is None or shape.left is None]
    return sorted(placed, key=lambda shape: (shape.top, shape.left)) + unplaced


def _add_shapes(builder: TextBuilder, shapes: list, place: dict, skip=None) -> None:
    """Append the text of ``shapes`` (tables as pipe tables, groups recursively) at ``place``, leaving out ``skip``.

    ``place`` holds the ``heading_path`` and ``location`` keywords of ``TextBuilder.add`` for the slide.
    """
    for shape in shapes:
        if skip is not None and shape.shape_id == skip.shape_id:
            continue
        if isinstance(shape, GroupShape):  # not shape_type: it raises on shapes python-pptx does not know
            _add_shapes(builder, _reading_order(shape.shapes), place)
        elif shape.has_table:
            header, rows = _table_rows(shape.table)
            if any(any(row) for row in [header or [], *rows]):
                builder.add_table(column_names(header, rows), rows, **place)
        elif shape.has_chart:
            chart = shape.chart
            if chart.has_title and chart.chart_title.has_text_frame:
                builder.add("Chart: " + chart.chart_title.text_frame.text, **place)
        elif shape.has_text_frame:
            builder.add("\n".join(_paragraph_lines(shape.text_frame.paragraphs)), **place)


def _paragraph_lines(paragraphs: Iterable) -> Iterator[str]:
    """Non-blank paragraphs as lines; line breaks kept, outline levels > 0 indented as list items."""
    for paragraph in paragraphs:
        text = paragraph.text.replace("\v", "\n").strip()
        if not text:
            continue
        if paragraph.level > 0:
            text = "  " * paragraph.level + "- " + text.replace("\n", "\n" + "  " * (paragraph.level + 1))
        yield text


def _table_rows(table) -> tuple[list[str] | None, list[list[str]]]:
    """A table's header (its first row, where the table marks one) and body rows; spanned cells are empty."""
    rows = [[("" if cell.is_spanned else cell.text) for cell in row.cells] for row in table.rows]
    if table.first_row and rows:
        return rows[0], rows[1:]
    return None, rows


def _notes(slide) -> str:
    """The slide's speaker notes, or an empty string."""
    if not slide.has_notes_slide:
        return ""
    frame = slide.notes_slide.notes_text_frame
    return frame.text.strip() if frame is not None else ""
