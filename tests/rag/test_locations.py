"""Locations and OCR marks travel from a parsed document to what a user reads.

A parser that gives sections a location ("slide 2", "sheet Revenue") or an OCR confidence (a scanned page)
gets chunks that carry them, stored rows that keep them, search results that return them, citations that
say them ("deck.pptx, slide 2"; "read by OCR") and the REST, OpenAI and CLI shapes that show them.
"""

from __future__ import annotations

import pytest

from api.openai_compat.convert import source_line
from api.schemas import citation_out, passage_out
from ingest.chunk import Chunker
from ingest.embed import load_tokenizer
from ingest.parse.types import ParsedDocument, Section
from rag.cli.show import passage_source
from rag.pipeline.citations import citation_of
from rag.pipeline.ingest import IngestPipeline, PreparedDocument
from rag.pipeline.prompt import Passage, source_label
from rag.store import Store

SLIDES = [
    ("Welcome", "Welcome to the yearly review of the harbour cooperative."),
    ("Revenue", "Quarterly revenue of the harbour cooperative rose by eleven percent thanks to ferry tickets."),
    ("Outlook", "Next year the cooperative plans two new piers and a larger fish market."),
]
SCAN = "The lighthouse keeper logged the storm of 1893 in a leather-bound diary."


def _deck() -> ParsedDocument:
    """A slide deck as a parser returns it: one section per slide, titled, located "slide N"."""
    text, sections = "", []
    for n, (title, body) in enumerate(SLIDES, start=1):
        start = len(text)
        text += f"{title}\n{body}"
        sections.append(Section(start, len(text), heading_path=(title,), location=f"slide {n}"))
        text += "\n\n"
    return ParsedDocument(text=text.rstrip(), sections=sections, media_type="application/vnd.ms-powerpoint")


def _scan() -> ParsedDocument:
    """A two-page PDF whose second page has no text layer and was read by OCR."""
    first = "Harbour records, volume two."
    text = f"{first}\n\n{SCAN}"
    sections = [Section(0, len(first), page=1), Section(len(first) + 2, len(text), page=2, ocr_confidence=72.4)]
    return ParsedDocument(text=text, sections=sections, media_type="application/pdf", n_pages=2)


def test_chunks_carry_the_location_and_ocr_confidence_of_their_section():
    chunker = Chunker(load_tokenizer(), 16, 2)  # windows shorter than a slide: a chunk never spans two
    deck = _deck()
    chunks = chunker.chunk(deck)
    assert len(chunks) >= len(SLIDES)
    for chunk in chunks:
        (section,) = [s for s in deck.sections if s.start <= chunk.start and chunk.end <= s.end]
        assert (chunk.location, chunk.heading_path, chunk.page) == (section.location, section.heading_path, None)
        assert chunk.ocr_confidence is None
    assert {c.location for c in chunks} == {"slide 1", "slide 2", "slide 3"}
    scan = chunker.chunk(_scan())
    assert {(c.page, c.location, c.ocr_confidence) for c in scan} == {(1, None, None), (2, None, 72.4)}


@pytest.mark.slow  # loads the embedding model
def test_a_stored_location_reaches_the_citation_and_every_shape_that_shows_it(tmp_path, embedder):
    store = Store(tmp_path / "data", default_index_spec="Flat")
    pipeline = IngestPipeline(store, embedder, Chunker(load_tokenizer(), 64, 8), 1 << 20)
    prepared = [
        PreparedDocument("deck.pptx", "d" * 64, 100, _deck(), 0.0),
        PreparedDocument("records.pdf", "r" * 64, 100, _scan(), 0.0),
    ]
    collection = pipeline.open_collection("c")
    pipeline.commit_batch(collection, prepared)

    (revenue,) = store.search_text(collection, ["quarterly revenue ferry tickets"], 1)[0]
    vector = embedder.embed(["How much did the quarterly revenue rise?"])
    dense = store.search(collection, vector, 1)[0][0]
    assert (revenue.filename, revenue.location, revenue.page) == ("deck.pptx", "slide 2", None)
    assert dense.chunk_id == revenue.chunk_id
    (diary,) = store.search_text(collection, ["lighthouse keeper storm diary"], 1)[0]
    assert (diary.filename, diary.page, diary.location) == ("records.pdf", 2, None)
    assert diary.ocr_confidence == pytest.approx(72.4, abs=1e-4)

    slide, scanned = citation_of(Passage(1, revenue), "marker"), citation_of(Passage(2, diary), "marker")
    assert (slide.location, slide.ocr, slide.ocr_confidence) == ("slide 2", False, None)
    assert (scanned.location, scanned.page, scanned.ocr) == (None, 2, True)
    assert source_label(revenue) == "deck.pptx, slide 2" and source_label(diary) == "records.pdf, page 2"
    rest = citation_out(slide)
    assert (rest.location, rest.ocr) == ("slide 2", False) and citation_out(scanned).ocr
    assert passage_out(Passage(2, diary)).ocr_confidence == pytest.approx(72.4, abs=1e-4)
    assert ", slide 2, chars" in source_line(slide) and source_line(scanned).endswith("read by OCR")
    assert ", slide 2, chars" in passage_source(slide)
    assert passage_source(scanned).endswith(", read by OCR (confidence 72%)")
    (stored,) = [
        c for c in store.catalog.get_document(collection.id, revenue.document_id).chunks if c.id == revenue.chunk_id
    ]
    assert stored.location == "slide 2"
    store.close()
