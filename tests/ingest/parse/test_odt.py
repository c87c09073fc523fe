"""OpenDocument text (.odt) built with odfpy at run time: headers and footers of the master pages are read once."""

from __future__ import annotations

import io

import pytest

from ingest.parse import parse_bytes

odf = pytest.importorskip("odf", reason="odfpy builds the test documents (pip install odfpy)")
from odf.opendocument import OpenDocumentText  # noqa: E402 (needs odfpy)
from odf.style import Footer, FooterLeft, Header, HeaderLeft, MasterPage, PageLayout  # noqa: E402
from odf.text import H, LineBreak, P, PageNumber, Span  # noqa: E402


def _part(kind, *paragraphs: P, **attributes):
    """A header or footer element (``Header``, ``FooterLeft``, ...) holding ``paragraphs``."""
    part = kind(**attributes)
    for p in paragraphs:
        part.addElement(p)
    return part


def _page(name: str, layout: PageLayout, *parts) -> MasterPage:
    page = MasterPage(name=name, pagelayoutname=layout)
    for part in parts:
        page.addElement(part)
    return page


def letter() -> bytes:
    """Four master pages: one with a two-line header and a page-number footer, one repeating a line in its header,
    footer and a left-page header, one whose header is switched off, one with a left-page footer."""
    doc = OpenDocumentText()
    layout = PageLayout(name="pm1")
    doc.automaticstyles.addElement(layout)
    two_lines = P(text="Acme Corp")
    two_lines.addElement(LineBreak())
    two_lines.addElement(Span(text="Internal use only"))
    page_number = P(text="Page ")
    page_number.addElement(PageNumber(selectpage="current", text="1"))
    pages = [
        _page("Standard", layout, _part(Header, two_lines), _part(Footer, page_number)),
        _page(
            "Landscape",
            layout,
            _part(Header, P(text="Acme Corp")),
            _part(Footer, P(text="Acme Corp")),
            _part(HeaderLeft, P(text="Left pages")),
        ),
        _page("Plain", layout, _part(Header, P(text="Switched off"), display="false")),
        _page("Ending", layout, _part(FooterLeft, P(text="The end, on the left"))),
    ]
    for page in pages:
        doc.masterstyles.addElement(page)
    doc.text.addElement(H(outlinelevel=1, text="Scope"))
    doc.text.addElement(P(text="The body comes first."))
    out = io.BytesIO()
    doc.write(out)
    return out.getvalue()


def test_odt_headers_and_footers_come_after_the_body_once(valid_sections):
    doc = parse_bytes(letter(), "letter.odt")
    valid_sections(doc)
    text = doc.text
    assert text.startswith("# Scope\n\nThe body comes first.")
    lines = ["Acme Corp", "Internal use only", "Page 1", "Left pages", "The end, on the left"]
    assert text.endswith("# Headers and footers\n\n" + "\n\n".join(lines))
    assert text.count("Acme Corp") == 1  # three master-page parts say it; it is written once
    assert "Switched off" not in text  # style:display="false": the page style shows no header
    last = doc.sections[-1]
    assert last.heading_path == ("Headers and footers",) and text[last.start : last.end].endswith("on the left")


def test_odt_without_headers_has_no_appendix():
    doc = OpenDocumentText()
    doc.text.addElement(P(text="Only a body."))
    out = io.BytesIO()
    doc.write(out)
    assert parse_bytes(out.getvalue(), "plain.odt").text == "Only a body."
