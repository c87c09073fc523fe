"""Chunks map back to the exact document text, respect the token window and keep table headers."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.chunk import Chunker, sentence_starts
from ingest.embed import load_tokenizer
from ingest.parse import parse_bytes
from ingest.parse.types import ParsedDocument, Section
from tests.conftest import FIXTURES, SHARED_DATA
from tests.ingest.table_fixtures import HTML_HEADER, MARKDOWN_HEADER, html_table, markdown_rows, markdown_table

# Every document kept in the repository, and a few with tables from the shared corpus when it is there.
FIXTURE_FILES = sorted(p for folder in ("documents", "api") for p in (FIXTURES / folder).iterdir())
SHARED_FILES = [
    SHARED_DATA / "documents" / name
    for name in (
        "unstructured/example-docs/simple-table.md",
        "unstructured/example-docs/example-10k-1p.html",
        "mozilla_readability/test/test-pages/wikipedia/source.html",
        "xquad/README.md",
    )
]


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


def _doc(text, sections=None):
    return ParsedDocument(text=text, sections=sections or [Section(0, len(text))], media_type="text/plain")


def test_offsets_map_back_and_windows_fit(tokenizer):
    text = " ".join(f"Sentence number {i} talks about topic {i % 7}, with some detail." for i in range(400))
    chunks = Chunker(tokenizer, 200, 40).chunk(_doc(text))
    assert len(chunks) > 5
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert c.n_tokens <= 200
        assert len(tokenizer.encode(c.text, add_special_tokens=False).ids) <= 200
    # Windows end at sentence boundaries when one is available.
    assert all(c.text.endswith(".") for c in chunks)
    # Consecutive windows overlap.
    assert all(b.start < a.end for a, b in zip(chunks, chunks[1:]))
    assert [c.ord for c in chunks] == list(range(len(chunks)))


def test_text_without_sentence_boundaries_is_cut_at_the_limit(tokenizer):
    text = " ".join(["lorem"] * 1000)
    chunks = Chunker(tokenizer, 100, 20).chunk(_doc(text))
    assert all(c.n_tokens == 100 for c in chunks[:-1])
    assert chunks[-1].end == len(text)
    assert all(text[c.start : c.end] == c.text for c in chunks)


def test_chunks_never_cross_sections_and_keep_page_and_headings(tokenizer):
    a = "Intro text. " * 30
    b = "Second page text. " * 30
    text = a + "\n\n" + b
    sections = [
        Section(0, len(a.rstrip()), page=1, heading_path=("Intro",)),
        Section(len(a) + 2, len(text.rstrip()), page=2, heading_path=("Intro", "Detail")),
    ]
    chunks = Chunker(tokenizer, 50, 10).chunk(_doc(text, sections))
    pages = {c.page for c in chunks}
    assert pages == {1, 2}
    for c in chunks:
        section = sections[0] if c.page == 1 else sections[1]
        assert section.start <= c.start < c.end <= section.end
        assert c.heading_path == section.heading_path
        assert text[c.start : c.end] == c.text


def test_unicode_offsets(tokenizer):
    text = "Café crème coûte 3 €. 한국어 문장입니다. Ünïcödé ends here! " * 20
    chunks = Chunker(tokenizer, 40, 8).chunk(_doc(text.strip()))
    assert all(text[c.start : c.end] == c.text for c in chunks)


def test_sentence_starts():
    assert sentence_starts("One. Two! Three?\n\nFour") == [5, 10, 18]


def test_bad_window_settings(tokenizer):
    with pytest.raises(ValueError):
        Chunker(tokenizer, 8, 0)
    with pytest.raises(ValueError):
        Chunker(tokenizer, 100, 60)


def _check_chunks(doc: ParsedDocument, chunks, max_tokens: int) -> None:
    """The invariants every chunk keeps: the exact slice after the prefix, and a window that fits."""
    assert [c.ord for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert c.text[c.prefix_chars :] == doc.text[c.start : c.end]
        assert 0 < c.n_tokens <= max_tokens


@pytest.mark.parametrize(
    ("source", "filename", "header", "max_tokens"),
    [
        (markdown_table(), "sales.md", MARKDOWN_HEADER, 80),
        (markdown_table(), "sales.md", MARKDOWN_HEADER, 120),
        (html_table(), "sales.html", HTML_HEADER, 40),
        (html_table(), "sales.html", HTML_HEADER, 64),
    ],
    ids=["markdown-80", "markdown-120", "html-40", "html-64"],
)
def test_every_chunk_with_table_rows_holds_the_header(tokenizer, source, filename, header, max_tokens):
    doc = parse_bytes(source, filename)
    [table] = doc.tables
    assert doc.text[table.start : table.header_end] == header
    chunks = Chunker(tokenizer, max_tokens, 8).chunk(doc)
    _check_chunks(doc, chunks, max_tokens)
    holding = [c for c in chunks if c.start < table.end and c.end > table.header_end]  # chunks with rows
    assert len(holding) >= 4, "the table should span several chunks"
    for c in holding:
        assert header in c.text, c
        if c.start > table.start:
            # Rows without their own header: it is repeated first, and the token count includes it.
            assert c.start >= table.header_end, "a chunk never starts inside the header rows"
            assert c.text.startswith(header + "\n")
            assert c.prefix_chars == len(header) + 1
            assert c.n_tokens == len(tokenizer.encode(c.text, add_special_tokens=False).ids) <= max_tokens
        else:
            assert c.prefix_chars == 0
    assert all(c.prefix_chars == 0 for c in chunks if c not in holding), "only chunks with rows get the header"
    # Every character of the table lies in some chunk's located slice: nothing is left to the prefix alone.
    covered = set().union(*(range(c.start, c.end) for c in chunks))
    assert covered >= set(range(table.start, table.end))


def test_rows_are_cut_whole_and_the_window_counts_the_header(tokenizer):
    doc = parse_bytes(markdown_table(60), "sales.md")
    chunks = Chunker(tokenizer, 80, 0).chunk(doc)
    _check_chunks(doc, chunks, 80)
    prefixed = [c for c in chunks if c.prefix_chars]
    assert len(prefixed) >= 8
    longest_row = max(len(tokenizer.encode(row, add_special_tokens=False).ids) for row in markdown_rows(60))
    for c in prefixed[:-1]:
        assert c.text[c.prefix_chars :].startswith("| North") and c.text.endswith("EUR |")
        assert c.n_tokens > 80 - longest_row, "another row would have fitted beside the header"


def test_a_header_longer_than_a_third_of_the_window_is_not_repeated(tokenizer):
    doc = parse_bytes(markdown_table(), "sales.md")
    assert len(tokenizer.encode(MARKDOWN_HEADER + "\n", add_special_tokens=False).ids) > 64 / 3
    chunks = Chunker(tokenizer, 64, 8).chunk(doc)
    _check_chunks(doc, chunks, 64)
    assert len(chunks) > 5 and all(c.prefix_chars == 0 for c in chunks)


@pytest.mark.parametrize("max_tokens", [16, 40, 200])
@pytest.mark.parametrize("path", FIXTURE_FILES + SHARED_FILES, ids=lambda p: "/".join(p.parts[-2:]))
def test_prefix_invariant_on_every_fixture(tokenizer, path: Path, max_tokens):
    if not path.exists():
        pytest.skip(f"{path} is not available (the shared data folder lies beside the repository)")
    doc = parse_bytes(path.read_bytes(), path.name)
    _check_chunks(doc, Chunker(tokenizer, max_tokens, max_tokens // 4).chunk(doc), max_tokens)
