"""PowerPoint parser: the documents-more decks and their facts, decks built here, and hostile packages."""

from __future__ import annotations

import io
import zipfile

import pytest
from PIL import Image
from pptx import Presentation
from pptx.opc.constants import RELATIONSHIP_TYPE as RT
from pptx.util import Inches

from ingest.errors import DocumentParseError
from ingest.parse import parse_bytes
from ingest.parse.pptx import parse
from ingest.tables import extract_tables
from tests.ingest.parse.conftest import check_sections
from tests.ingest.parse.office_fixtures import (
    facts,
    in_table,
    more_file,
    no_network,
    read_member,
    rewrite_zip,
    section_at,
)

# Where each fact of facts.jsonl is, as SOURCE.md describes the decks.
FACT_SLIDES = {
    "Second slide title": 2,
    "Some notes on the second slide.": 2,
    "A merged with B": 1,
    "A table to test parsing:": 3,
    "1b92870d-e3b5-4e65-8153-919f4ff45592": 3,
    "A Nested Shape parsing": 5,
    "This is the first content slide": 2,
    "This one is a sub-sub-bullet": 2,
    "B2": 4,
}
DECKS = ["docling/powerpoint_sample.pptx", "markitdown/test.pptx", "unstructured/sample-presentation.pptx"]


@pytest.mark.parametrize(("name", "kind", "fact"), facts((".pptx",)))
def test_fact_is_found_at_its_slide(name: str, kind: str, fact: str) -> None:
    doc = parse_bytes(more_file(name), name.rsplit("/", 1)[-1])
    needle = f"| {fact} |" if kind == "table_cell" else fact
    offset = doc.text.find(needle)
    assert offset >= 0, f"{fact!r} not in the text of {name}"
    section = section_at(doc, offset)
    assert section.location == f"slide {FACT_SLIDES[fact]}"
    if kind == "title":
        assert section.heading_path == (fact,)
    if kind == "table_cell":
        assert in_table(doc, offset)


@pytest.mark.parametrize("name", DECKS)
def test_real_decks_keep_the_contract(name: str) -> None:
    doc = parse(more_file(name), name.rsplit("/", 1)[-1])
    check_sections(doc)
    locations = [s.location for s in doc.sections]
    assert len(set(locations)) == len(locations), "one section per slide"
    assert all(loc.startswith("slide ") for loc in locations)
    assert doc.metadata["slides"] >= int(locations[-1].split()[1])


def test_notes_come_after_the_slide_content() -> None:
    doc = parse(more_file("docling/powerpoint_sample.pptx"), "powerpoint_sample.pptx")
    slide = next(s for s in doc.sections if s.location == "slide 2")
    text = doc.text[slide.start : slide.end]
    assert text.startswith("Second slide title\n\n")
    assert text.endswith("Notes: Some notes on the second slide.")
    assert doc.title == "Test Table Slide"  # no core-properties title: the first slide's


def test_bullet_levels_stay_readable() -> None:
    doc = parse(more_file("unstructured/sample-presentation.pptx"), "sample-presentation.pptx")
    assert "And a list of bulleted information\n  - With a sub-bullet\n" in doc.text
    assert "\n    - This one is a sub-sub-bullet\n" in doc.text
    assert doc.title == "Title Slide"  # the deck's title is the default "PowerPoint Presentation"


def _deck() -> Presentation:
    """Two slides: title + bullets + notes; a blank slide with a merged table and nested groups."""
    deck = Presentation()
    deck.core_properties.title = "Quarterly review"
    first = deck.slides.add_slide(deck.slide_layouts[1])
    first.shapes.title.text = "Results | Q3"
    body = first.placeholders[1].text_frame
    body.text = "Revenue grew"
    for text, level in (("in Europe", 1), ("mostly Spain", 2), ("Costs fell", 0)):
        paragraph = body.add_paragraph()
        paragraph.text, paragraph.level = text, level
    first.notes_slide.notes_text_frame.text = "Mention the hiring freeze."
    second = deck.slides.add_slide(deck.slide_layouts[6])
    lower = second.shapes.add_textbox(Inches(1), Inches(6), Inches(4), Inches(1))
    lower.text_frame.text = "Footer written first, shown last"
    table = second.shapes.add_table(3, 3, Inches(1), Inches(3), Inches(6), Inches(2)).table
    for r, row in enumerate([["Region", "", "Units"], ["North", "7", "70"], ["South", "8", "80"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    table.cell(0, 0).merge(table.cell(0, 1))
    table.cell(0, 0).text = "Region and code"
    group = second.shapes.add_group_shape()
    group.shapes.add_textbox(Inches(1), Inches(1), Inches(3), Inches(1)).text_frame.text = "Outer box"
    inner = group.shapes.add_group_shape()
    inner.shapes.add_textbox(Inches(1), Inches(2), Inches(3), Inches(1)).text_frame.text = "Deeply nested box"
    return deck


def _save(deck: Presentation) -> bytes:
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def test_built_deck_slides_titles_tables_and_groups() -> None:
    doc = parse(_save(_deck()), "review.pptx")
    check_sections(doc)
    assert doc.title == "Quarterly review"
    first, second = doc.sections
    assert (first.location, first.heading_path) == ("slide 1", ("Results | Q3",))
    assert doc.text[first.start : first.end] == (
        "Results | Q3\n\nRevenue grew\n  - in Europe\n    - mostly Spain\nCosts fell\n\n"
        "Notes: Mention the hiring freeze."
    )
    assert (second.location, second.heading_path) == ("slide 2", ())
    slide = doc.text[second.start : second.end]
    # reading order: top to bottom, groups recursively, whatever order the shapes were added in
    order = [slide.index(s) for s in ("Outer box", "Deeply nested box", "| Region and code |", "Footer written")]
    assert order == sorted(order)
    [span] = doc.tables
    assert doc.text[span.start : span.header_end] == "| Region and code | column_2 | Units |\n| --- | --- | --- |"
    [table] = extract_tables(doc, "review.pptx")
    assert table.name == "review"
    assert table.table.column("units").to_pylist() == [70, 80]


def test_external_picture_is_never_fetched(monkeypatch: pytest.MonkeyPatch) -> None:
    deck = _deck()
    slide = deck.slides[1]
    png = io.BytesIO()
    Image.new("RGB", (4, 4)).save(png, format="PNG")
    picture = slide.shapes.add_picture(io.BytesIO(png.getvalue()), Inches(5), Inches(1))
    link = slide.part.relate_to("http://127.0.0.1:9/tracker.png", RT.IMAGE, is_external=True)
    blip = picture._element.blipFill.blip
    blip.set("{http://schemas.openxmlformats.org/officeDocument/2006/relationships}link", link)
    data = _save(deck)
    assert b'TargetMode="External"' in read_member(data, "ppt/slides/_rels/slide2.xml.rels")
    with no_network(monkeypatch) as attempts:
        doc = parse(data, "linked.pptx")
    assert attempts == []
    assert "Deeply nested box" in doc.text


def test_zip_bomb_is_refused() -> None:
    bomb = rewrite_zip(_save(_deck()), {"ppt/media/zeros.bin": bytes(64 << 20)})
    with pytest.raises(DocumentParseError, match="limit"):
        parse(bomb, "bomb.pptx")


def test_a_zip_that_is_no_deck_is_refused() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("hello.txt", "not a presentation")
    with pytest.raises(DocumentParseError, match="not a readable PowerPoint"):
        parse(out.getvalue(), "fake.pptx")
