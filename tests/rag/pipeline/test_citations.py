"""Only passages given to the model can be cited; dangling markers disappear."""

from __future__ import annotations

from rag.pipeline.citations import Citer
from rag.pipeline.prompt import Passage, PromptBuilder
from rag.store import StoredChunk


def _chunk(i, text, filename="doc.txt", page=None):
    return StoredChunk(
        chunk_id=i,
        document_id=100 + i,
        filename=filename,
        title=None,
        ord=0,
        text=text,
        page=page,
        char_start=10 * i,
        char_end=10 * i + len(text),
        heading_path=(),
        score=0.5,
    )


PASSAGES = [
    Passage(1, _chunk(1, "The Eiffel Tower is in Paris and was completed in 1889.", "paris.md")),
    Passage(2, _chunk(2, "Mount Fuji is the highest mountain in Japan.", "japan.pdf", page=3)),
]


def test_valid_markers_become_citations_and_invalid_ones_are_removed():
    text, cites = Citer()("The tower was completed in 1889 [1][7]. Fuji is tall [2, 9].", PASSAGES)
    assert text == "The tower was completed in 1889 [1]. Fuji is tall [2]."
    assert [c.number for c in cites] == [1, 2]
    assert cites[1].filename == "japan.pdf" and cites[1].page == 3 and cites[1].how == "marker"
    assert cites[0].char_start == 10 and cites[0].text == PASSAGES[0].chunk.text


def test_markers_pointing_nowhere_give_no_citation():
    text, cites = Citer()("Nothing relevant [5].", PASSAGES)
    assert "[5]" not in text and all(c.number in (1, 2) for c in cites)


def test_uncited_sentences_are_attributed_by_content_overlap():
    text, cites = Citer()("The Eiffel Tower was completed in 1889.", PASSAGES)
    assert [c.number for c in cites] == [1] and cites[0].how == "overlap"
    assert text == "The Eiffel Tower was completed in 1889 [1]."


def test_unsupported_sentence_gets_no_citation():
    text, cites = Citer()("I do not know.", PASSAGES)
    assert cites == [] and text == "I do not know."


def test_prompt_numbers_passages_and_respects_budget():
    chunks = [p.chunk for p in PASSAGES]
    messages, passages = PromptBuilder(lambda s: len(s.split()), max_context_tokens=15)("Where?", chunks)
    assert [p.number for p in passages] == [1]  # the second passage does not fit
    assert "[1] (paris.md)" in messages[1].content and "japan.pdf" not in messages[1].content
    messages, passages = PromptBuilder(lambda s: 1)("Where?", chunks)
    assert "[2] (japan.pdf, page 3)" in messages[1].content
