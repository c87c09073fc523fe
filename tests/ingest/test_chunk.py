"""Chunks map back to the exact document text and respect the token window."""

from __future__ import annotations

import pytest

from ingest.chunk import Chunker, sentence_starts
from ingest.embed import load_tokenizer
from ingest.parse.types import ParsedDocument, Section


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
