"""Markdown parser: the source is the text, sections follow the headings."""

from __future__ import annotations

import pytest

from ingest.parse import parse_bytes
from ingest.parse.markdown import find_headings, find_tables, plain_title
from ingest.parse.types import TableSpan
from tests.ingest.table_fixtures import MARKDOWN_HEADER, markdown_rows, markdown_table


def _paths(doc):
    return [s.heading_path for s in doc.sections]


def test_fixture_heading_paths(fixtures, valid_sections):
    source = (fixtures / "guide.md").read_bytes()
    doc = parse_bytes(source, "guide.md")
    valid_sections(doc)
    assert doc.text == source.decode()
    assert _paths(doc) == [
        (),
        ("Field Guide",),
        ("Field Guide", "Install"),
        ("Field Guide", "Install", "Linux"),
        ("Field Guide", "Windows"),  # setext level 2 closes the level-3 "Linux"
        ("Field Guide", "Usage docs cli"),  # inline link and code markup removed
    ]
    assert doc.text[doc.sections[2].start :].startswith("## Install")
    assert "# this is a shell comment" in doc.text[doc.sections[2].start : doc.sections[2].end]
    assert doc.text[doc.sections[4].start :].startswith("Windows\n-------")


def test_code_comments_are_not_headings(documents, valid_sections):
    doc = parse_bytes((documents / "unstructured/example-docs/codeblock.md").read_bytes(), "codeblock.md")
    valid_sections(doc)
    assert _paths(doc) == [("HTML Example",), ("XML Example",)]
    readme = parse_bytes((documents / "unstructured/README.md").read_bytes(), "README.md")
    valid_sections(readme)
    titles = {path[-1] for path in _paths(readme) if path}
    assert "create the container" not in titles  # a '# ' comment inside a ```bash fence
    assert {"Quick Start", "Installing the library", "Security Policy"} <= titles  # :emoji: codes removed
    assert all(not t.startswith(("#", ":")) for t in titles)


def test_other_shared_markdown(documents, valid_sections):
    xquad = parse_bytes((documents / "xquad/README.md").read_bytes(), "README.md")
    valid_sections(xquad)
    assert xquad.title == "XQuAD"
    assert ("XQuAD", "Reference") in _paths(xquad)
    table = parse_bytes((documents / "unstructured/example-docs/simple-table.md").read_bytes(), "simple-table.md")
    assert _paths(table) == [()]  # "---|---|---" is a table delimiter row, not a setext underline
    mixed = parse_bytes((documents / "unstructured/example-docs/language-docs/eng_spa_mult.md").read_bytes(), "m.md")
    assert "Todos los seres humanos" in mixed.text and _paths(mixed) == [()]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("# One\n## Two ##\n#No space\n####### seven\n", [(1, "One"), (2, "Two")]),
        ("Title\n=====\n\ntext\n\n---\n\nafter a thematic break\n", [(1, "Title")]),
        ("~~~\n# not a heading\n~~~\n# real\n", [(1, "real")]),
        ("````\n```\n# still code\n````\n## out\n", [(2, "out")]),
        ("```python\n# unclosed fence swallows the rest\n# end\n", []),
        ("- item\n---\n", []),  # a list item is not setext heading text
        ("   ### three spaces\n    # four spaces is code\n", [(3, "three spaces")]),
        ("Multi line\nheading text\n---\n", [(2, "Multi line heading text")]),
        ("#\n", []),  # an empty heading has no title to put in a path
    ],
)
def test_find_headings(source, expected):
    assert [(h.level, h.title) for h in find_headings(source)] == expected


def test_front_matter_is_not_a_setext_heading(valid_sections):
    doc = parse_bytes(b"---\ntitle: 'Quoted Title'\ntags: [a]\n---\nBody text.\n", "fm.md")
    valid_sections(doc)
    assert doc.title == "Quoted Title"
    assert _paths(doc) == [()]


def test_plain_title():
    title = "**Bold** and _em_ [link](http://x) ![img](a.png) `code` <b>x</b>"
    assert plain_title(title) == "Bold and em link img code x"
    assert plain_title(":rocket: Launch \\#1") == "Launch #1"


def test_crlf_source_offsets(valid_sections):
    doc = parse_bytes(b"# A\r\n\r\nalpha\r\n\r\n## B\r\nbeta\r\n", "crlf.md")
    valid_sections(doc)
    assert [doc.text[s.start : s.end] for s in doc.sections] == ["# A\n\nalpha", "## B\nbeta"]
    assert _paths(doc) == [("A",), ("A", "B")]


def test_pipe_table_span_is_exact(valid_sections):
    doc = parse_bytes(markdown_table(), "sales.md")
    valid_sections(doc)
    [table] = doc.tables
    assert doc.text[table.start : table.header_end] == MARKDOWN_HEADER
    assert doc.text[table.start : table.end] == MARKDOWN_HEADER + "\n" + "\n".join(markdown_rows())
    [section] = doc.sections
    assert section.start <= table.start < table.end <= section.end


def test_shared_table_without_outer_pipes(documents):
    doc = parse_bytes((documents / "unstructured/example-docs/simple-table.md").read_bytes(), "simple-table.md")
    [table] = doc.tables
    assert doc.text[table.start : table.header_end] == "Item | Price | # In stock\n---|---|---"
    assert doc.text[table.end - len("Bananas | 1.89 | 6") : table.end] == "Bananas | 1.89 | 6"


def _spans(source: str) -> list[str]:
    return [f"{source[t.start : t.header_end]}//{source[t.header_end : t.end]}" for t in find_tables(source)]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("|a|b|\n|-|-|\n|1|2|\n\nafter\n", ["|a|b|\n|-|-|//\n|1|2|"]),
        ("  | a |  \n  | :-: |  \n  | 1 |  \n", ["| a |  \n  | :-: |//  \n  | 1 |"]),  # offsets trim the ends
        ("| a | b |\n|---|\n| 1 | 2 |\n", []),  # the delimiter row must match the header's cell count
        ("a\n---\n", []),  # a setext heading, not a one-column table
        ("```\n| a | b |\n|---|---|\n```\n", []),  # inside a fenced code block
        ("    | a | b |\n    |---|---|\n", []),  # indented code
        ("| a | b |\n|---|---|\n| 1 | 2 |\n## Next\n| 3 | 4 |\n", ["| a | b |\n|---|---|//\n| 1 | 2 |"]),
        ("| a | b |\n|---|---|\n", ["| a | b |\n|---|---|//"]),  # a header with no body rows
        ("| a |\n|---|\n| 1 |\n\n| c |\n|---|\n| 2 |\n", ["| a |\n|---|//\n| 1 |", "| c |\n|---|//\n| 2 |"]),
    ],
)
def test_find_tables(source, expected):
    assert _spans(source) == expected


def test_lines_right_after_a_table_are_rows_not_a_setext_heading(valid_sections):
    # As in GFM, a table runs to a blank line or the start of another block, so "Next" and "====" are rows.
    table = "| a | b |\n|---|---|\n| 1 | 2 |\nNext\n===="
    doc = parse_bytes(f"{table}\n\ntext\n".encode(), "t.md")
    valid_sections(doc)
    assert _paths(doc) == [()]
    assert doc.tables == [TableSpan(0, len(table), len("| a | b |\n|---|---|"))]
