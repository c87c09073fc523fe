"""Only passages given to the model can be cited; dangling markers disappear."""

from __future__ import annotations

import re

import pytest

from rag.pipeline.citations import Citer, clean_markers, content_words
from rag.pipeline.prompt import Passage, PromptBuilder
from rag.pipeline.sentences import split_sentences
from rag.store import StoredChunk
from tests.rag.pipeline.test_sentences import TRICKY


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


# Issue 9: markers attributed by overlap were put at every ".", inside URLs, decimals and versions.
LAYOUT = [
    Passage(1, _chunk(3, "LayoutParser documentation is hosted at https://layout-parser.github.io with examples.")),
    Passage(2, _chunk(4, "The detector reaches 79.8 mAP on PubLayNet. Release v1.1 added OCR support.")),
]


def test_overlap_marker_is_not_inserted_inside_a_url():
    text, cites = Citer()("LayoutParser documentation is hosted at https://layout-parser.github.io.", LAYOUT)
    assert text == "LayoutParser documentation is hosted at https://layout-parser.github.io [1]."
    assert [c.number for c in cites] == [1]


def test_overlap_marker_is_not_inserted_inside_a_decimal():
    text, _ = Citer()("The detector reaches 79.8 mAP on PubLayNet.", LAYOUT)
    assert text == "The detector reaches 79.8 mAP on PubLayNet [2]."


def test_overlap_marker_is_not_inserted_inside_a_version():
    text, _ = Citer()("Release v1.1 added OCR support.", LAYOUT)
    assert text == "Release v1.1 added OCR support [2]."


def test_overlap_markers_respect_abbreviations_initials_quotes_and_lists():
    passage = [Passage(1, _chunk(5, "Tolkien wrote novels, e.g. The Hobbit; Dr. Smith studied them in Fig. 3, etc."))]
    answer = 'J. R. R. Tolkien wrote novels, e.g. The Hobbit. Dr. Smith studied "them."\n\n- Fig. 3 novels, etc.'
    text, _ = Citer()(answer, passage)
    assert text == (
        'J. R. R. Tolkien wrote novels, e.g. The Hobbit [1]. Dr. Smith studied "them [1]."\n\n- Fig. 3 novels, etc. [1]'
    )


@pytest.mark.parametrize("answer", TRICKY)
def test_overlap_markers_never_split_a_token(answer):
    """Each sentence gets one marker, placed after a whole token, before at most its final punctuation."""
    text, _ = Citer()(answer, [Passage(1, _chunk(6, answer or "empty"))])
    assert text.replace(" [1]", "") == answer.strip()
    original = answer.strip()
    positions = [m.start() - 4 * i for i, m in enumerate(re.finditer(r" \[1\]", text))]
    for at in positions:
        assert at > 0 and not original[at - 1].isspace()
        rest_of_token = re.match(r"[^\s。！？]*[。！？]?", original[at:]).group(0)  # CJK stops end tokens
        assert re.fullmatch(r"[.!?…。！？\"'”’»)\]}]*", rest_of_token), (original, at)
    supported = [s for s in split_sentences(original) if content_words(original[s[0] : s[1]])]
    assert len(positions) == len(supported)


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("Tall[7]and wide [1].", "Tall and wide [1]."),  # a removed marker never glues two words
        ("Tall [1] . Wide [7] , yes.", "Tall [1]. Wide, yes."),  # spaces before closing punctuation go
        ("Files ending in .pdf [1] or .env are read by ./configure; 3 : 2 [7].", None),
        ("Paris [1]\n\n[7] Fuji is tall.\n[1] Next", "Paris [1]\n\nFuji is tall.\n[1] Next"),  # lines stay lines
        ("Index `a[1]` and ```\nb[7]\n``` stay [1].", None),  # code is not cited
        ("Paris[1]is big.", "Paris [1] is big."),
        ("Version v1.2 [1]. Score 79.8 [1].", None),
    ],
)
def testclean_markers_changes_only_markers_and_their_spaces(answer, expected):
    text, cited = clean_markers(answer, {1, 2})
    if expected is None:
        expected = answer.replace(" [7]", "")
    assert text == expected and cited == [1]
