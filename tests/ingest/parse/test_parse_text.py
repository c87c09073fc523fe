"""Plain-text parser."""

from __future__ import annotations

from ingest.parse import parse_bytes


def test_fixture_is_one_trimmed_section(fixtures, valid_sections):
    doc = parse_bytes((fixtures / "notes.txt").read_bytes(), "notes.txt")
    valid_sections(doc)
    assert doc.media_type == "text/plain"
    assert "\r" not in doc.text
    assert "Friday.\nReviews" in doc.text
    assert len(doc.sections) == 1
    section = doc.sections[0]
    assert doc.text[section.start : section.end].startswith("Meeting notes")
    assert doc.text[section.start : section.end].endswith("Thursday.")
    assert section.heading_path == () and section.page is None and doc.n_pages is None


def test_form_feeds_make_pages(valid_sections):
    doc = parse_bytes(b"Page one text.\n\x0cPage two text.\n\x0c\n\x0cPage four.\n\x0c", "rfc.txt")
    valid_sections(doc)
    assert doc.n_pages == 4  # the trailing form feed closes page four, it opens no fifth page
    assert [s.page for s in doc.sections] == [1, 2, 4]
    assert [doc.text[s.start : s.end] for s in doc.sections] == ["Page one text.", "Page two text.", "Page four."]


def test_leading_blank_lines_are_outside_the_section(valid_sections):
    doc = parse_bytes(b"\n\n   Indented start\n", "a.txt")
    valid_sections(doc)
    assert doc.text[doc.sections[0].start : doc.sections[0].end] == "Indented start"
