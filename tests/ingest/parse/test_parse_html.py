"""HTML parser: main-content extraction, block text and heading sections."""

from __future__ import annotations

import re
from collections import Counter

import lxml.html
import pytest

from ingest.errors import NoTextError
from ingest.parse import parse_bytes
from tests.ingest.table_fixtures import HTML_HEADER, html_rows, html_table

WIKIPEDIA = "mozilla_readability/test/test-pages/wikipedia"


def _tokens(text: str) -> Counter:
    return Counter(re.findall(r"\w+", text.lower()))


def test_fixture_keeps_the_article_and_drops_boilerplate(fixtures, valid_sections):
    doc = parse_bytes((fixtures / "article.html").read_bytes(), "article.html")
    valid_sections(doc)
    assert doc.title == "Caring for Sourdough Starters - Bakery Notes"
    for gone in ("analytics", "font-family", "Popular posts", "Recipes", "About us", "Copyright", "[edit]", "edit"):
        assert gone not in doc.text
    assert doc.text.startswith("Caring for Sourdough Starters\n\nA sourdough starter is a living culture")
    assert "needs regular feeding, a warm place" in doc.text  # source line breaks collapsed
    assert "- Use unbleached flour.\n\n- Keep the jar loosely covered." in doc.text
    assert "Starter | Flour | Water\n\n50 g | 50 g | 50 g" in doc.text
    assert [s.heading_path for s in doc.sections] == [
        ("Caring for Sourdough Starters",),
        ("Caring for Sourdough Starters", "Feeding"),
        ("Caring for Sourdough Starters", "Feeding", "Ratios"),
        ("Caring for Sourdough Starters", "Storage"),
    ]
    storage = doc.sections[-1]
    assert doc.text[storage.start : storage.end].startswith("Storage\n\nBetween bakes")


def test_wikipedia_matches_readability_expected_text(documents, valid_sections):
    """Token-level overlap with Readability's own extraction of the same page.

    Measured: recall 0.960, precision 0.986. The recall lost is on purpose:
    the 36 "[edit]" links, the table of contents, "^ a b" citation back-links
    and "[citation needed]" tags, all of which Readability keeps.
    """
    source = (documents / WIKIPEDIA / "source.html").read_bytes()
    expected = lxml.html.fromstring((documents / WIKIPEDIA / "expected.html").read_text("utf-8")).text_content()
    doc = parse_bytes(source, "source.html")
    valid_sections(doc)
    ours, reference = _tokens(doc.text), _tokens(expected)
    overlap = sum((ours & reference).values())
    assert overlap / sum(reference.values()) >= 0.93, "recall of Readability's text"
    assert overlap / sum(ours.values()) >= 0.95, "precision against Readability's text"
    assert doc.title == "Mozilla - Wikipedia"
    for boilerplate in ("Navigation menu", "Personal tools", "Privacy policy", "Edit section", "[edit]", "mw.config"):
        assert boilerplate not in doc.text
    assert ("Mozilla", "Software", "Components", "SpiderMonkey") in {s.heading_path for s in doc.sections}
    assert "Industry | Open-source software" in doc.text  # infobox rows as "cell | cell"


def test_sec_filing_gives_sensible_text(documents, valid_sections):
    doc = parse_bytes((documents / "unstructured/example-docs/example-10k-1p.html").read_bytes(), "10k.html")
    valid_sections(doc)
    text = doc.text
    assert "Galaxy Gaming, Inc." in text
    assert "ANNUAL REPORT ON FORM 10-K FOR THE YEAR ENDED DECEMBER 31, 2021" in text
    assert "Common stock | GLXZ | OTCQB marketplace" in text
    assert "Item 1A. | Risk Factors | 9" in text
    assert "C_0000013156" not in text  # the hidden inline-XBRL header
    assert "<" not in text and "font-family" not in text
    assert "\n\n\n" not in text


def test_article_header_is_kept_and_site_header_dropped(valid_sections):
    body = "<p>" + "A paragraph of the post, with enough words and commas, to be content. " * 4 + "</p>"
    page = (
        "<html><head><title>Post title | Site Name</title></head><body>"
        '<header><h1>Site Name</h1><nav><a href="/">Home</a></nav></header>'
        f'<main><article><header><h2>Post title</h2><p class="byline">By Ann Lee</p></header>{body}'
        "<footer>Tags: none</footer></article></main></body></html>"
    )
    doc = parse_bytes(page.encode(), "post.html")
    valid_sections(doc)
    assert doc.title == "Post title | Site Name"
    assert doc.text.startswith("Post title\n\nBy Ann Lee\n\nA paragraph of the post")
    assert "Site Name" not in doc.text and "Home" not in doc.text and "Tags" not in doc.text
    assert {s.heading_path for s in doc.sections} == {("Post title",)}


def test_meta_charset_and_xml_declaration():
    page = '<?xml version="1.0" encoding="windows-1252"?><html><head><meta charset="windows-1252"></head>'
    page += "<body><p>Cr\u00e8me br\u00fbl\u00e9e \u2013 \u201cclassic\u201d.</p></body></html>"
    doc = parse_bytes(page.encode("cp1252"), "dessert.html")
    assert doc.text == "Cr\u00e8me br\u00fbl\u00e9e \u2013 \u201cclassic\u201d."


def test_fragment_falls_back_to_the_whole_body(valid_sections):
    doc = parse_bytes(b"<h2>Short</h2><p>Just one line.</p><ol><li>first</li><li>second</li></ol>", "f.html")
    valid_sections(doc)
    assert doc.text == "Short\n\nJust one line.\n\n1. first\n\n2. second"
    assert doc.title is None
    assert [s.heading_path for s in doc.sections] == [("Short",)]


def test_br_pre_and_hidden_elements():
    page = (
        b"<body><p>line one<br>line   two\n continued</p><pre>  code\n    indented\n</pre>"
        b'<p style="display: none">hidden</p><p hidden>also hidden</p><div aria-hidden="true">aria</div>'
        b"<!-- a comment --></body>"
    )
    assert parse_bytes(page, "p.html").text == "line one\nline two continued\n\ncode\n  indented"


@pytest.mark.parametrize(
    "page", [b"<html><head><title>T</title><script>x()</script></head><body> </body></html>", b"<!-- only -->"]
)
def test_page_without_visible_text(page):
    with pytest.raises(NoTextError, match="has no visible text"):
        parse_bytes(page, "blank.html")


def test_thead_table_span_is_exact(valid_sections):
    doc = parse_bytes(html_table(), "sales.html")
    valid_sections(doc)
    [table] = doc.tables
    assert doc.text[table.start : table.header_end] == HTML_HEADER  # the caption is not part of the grid
    assert doc.text[table.start : table.end] == "\n\n".join([HTML_HEADER, *html_rows()])
    assert "Units and revenue\n\n" + HTML_HEADER in doc.text
    assert any(s.start <= table.start < table.end <= s.end for s in doc.sections)


def test_leading_th_rows_are_a_header_and_tables_without_one_have_none(fixtures):
    doc = parse_bytes((fixtures / "article.html").read_bytes(), "article.html")
    [table] = doc.tables
    assert doc.text[table.start : table.header_end] == "Starter | Flour | Water"
    assert doc.text[table.header_end : table.end] == "\n\n50 g | 50 g | 50 g"
    page = (
        "<body><p>" + "Enough words to count as the main content of the page. " * 5 + "</p>"
        # A row header is not a header row; an empty <thead> is no header.
        "<table><tr><th>Name</th><td>Ann</td></tr><tr><td>x</td><td>y</td></tr></table>"
        "<table><thead><tr><th> </th></tr></thead><tr><td>only</td></tr></table></body>"
    )
    doc = parse_bytes(page.encode(), "t.html")
    spans = [(doc.text[t.start : t.end], t.header_end - t.start) for t in doc.tables]
    assert spans == [("Name | Ann\n\nx | y", 0), ("only", 0)]
