"""Only passages given to the model can be cited; dangling markers disappear; added markers land between tokens.

Markers are checked by :class:`rag.pipeline.support.SupportChecker`; here it runs over a
fake support model (content-word overlap, deterministic) so that marker placement is
tested on exact expectations. The real model is tested in test_support.py.
"""

from __future__ import annotations

import re

import pytest

from rag.pipeline.citations import citation_of, clean_markers
from rag.pipeline.prompt import Passage, PromptBuilder
from rag.pipeline.sentences import split_sentences
from rag.pipeline.support import SupportChecker
from rag.store import StoredChunk
from tests.rag.pipeline.test_sentences import TRICKY

_WORD = re.compile(r"\w+")
_STOP = frozenset("the a an and or of to in on at for from by with as is are was were it this that not do".split())


def content_words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text) if len(w) > 2 and w.lower() not in _STOP}


class FakeOverlapModel:
    """A fake support model: the share of the sentence's content words found in the passage."""

    name = "fake-overlap"

    def score(self, query, passages):
        import numpy as np

        words = content_words(query)
        return np.array([len(words & content_words(p)) / max(1, len(words)) for p in passages], dtype=np.float32)


def cite(answer: str, passages):
    """The pipeline's citation steps: clean the markers, check each sentence, cite what the markers name."""
    text, _ = clean_markers(answer, {p.number for p in passages})
    checked = SupportChecker(FakeOverlapModel, threshold=0.5)(text, passages)
    by_number = {p.number: p for p in passages}
    how = {}
    for sentence in checked.sentences:
        for n in sentence.cited:
            how.setdefault(n, sentence.how)
    return checked.text, [citation_of(by_number[n], how[n]) for n in how if n in by_number]


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
    text, cites = cite("The tower was completed in 1889 [1][7]. Fuji is tall [2, 9].", PASSAGES)
    assert text == "The tower was completed in 1889 [1]. Fuji is tall [2]."
    assert [c.number for c in cites] == [1, 2]
    assert cites[1].filename == "japan.pdf" and cites[1].page == 3 and cites[1].how == "marker"
    assert cites[0].char_start == 10 and cites[0].text == PASSAGES[0].chunk.text


def test_markers_pointing_nowhere_give_no_citation():
    text, cites = cite("Nothing relevant [5].", PASSAGES)
    assert "[5]" not in text and all(c.number in (1, 2) for c in cites)


def test_uncited_sentences_get_the_passage_that_supports_them():
    text, cites = cite("The Eiffel Tower was completed in 1889.", PASSAGES)
    assert [c.number for c in cites] == [1] and cites[0].how == "support"
    assert text == "The Eiffel Tower was completed in 1889 [1]."


def test_unsupported_sentence_gets_no_citation():
    text, cites = cite("I do not know.", PASSAGES)
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


def test_added_marker_is_not_inserted_inside_a_url():
    text, cites = cite("LayoutParser documentation is hosted at https://layout-parser.github.io.", LAYOUT)
    assert text == "LayoutParser documentation is hosted at https://layout-parser.github.io [1]."
    assert [c.number for c in cites] == [1]


def test_added_marker_is_not_inserted_inside_a_decimal():
    text, _ = cite("The detector reaches 79.8 mAP on PubLayNet.", LAYOUT)
    assert text == "The detector reaches 79.8 mAP on PubLayNet [2]."


def test_added_marker_is_not_inserted_inside_a_version():
    text, _ = cite("Release v1.1 added OCR support.", LAYOUT)
    assert text == "Release v1.1 added OCR support [2]."


def test_added_markers_respect_abbreviations_initials_quotes_and_lists():
    passage = [Passage(1, _chunk(5, "Tolkien wrote novels, e.g. The Hobbit; Dr. Smith studied them in Fig. 3, etc."))]
    answer = 'J. R. R. Tolkien wrote novels, e.g. The Hobbit. Dr. Smith studied "them."\n\n- Fig. 3 novels, etc.'
    text, _ = cite(answer, passage)
    assert text == (
        'J. R. R. Tolkien wrote novels, e.g. The Hobbit [1]. Dr. Smith studied "them [1]."\n\n- Fig. 3 novels, etc. [1]'
    )


@pytest.mark.parametrize("answer", TRICKY)
def test_added_markers_never_split_a_token(answer):
    """Each sentence gets one marker, placed after a whole token, before at most its final punctuation."""
    text, _ = cite(answer, [Passage(1, _chunk(6, answer or "empty"))])
    assert text.replace(" [1]", "") == answer.strip()
    original = answer.strip()
    positions = [m.start() - 4 * i for i, m in enumerate(re.finditer(r" \[1\]", text))]
    for at in positions:
        assert at > 0 and not original[at - 1].isspace()
        rest_of_token = re.match(r"[^\s。！？]*[。！？]?", original[at:]).group(0)  # CJK stops end tokens
        assert re.fullmatch(r"[.!?…。！？\"'”’»)\]}]*", rest_of_token), (original, at)
    # the passage is the answer itself, so every sentence with a word is quoted word for word: supported
    supported = [s for s in split_sentences(original) if _WORD.search(original[s[0] : s[1]])]
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
def test_clean_markers_changes_only_markers_and_their_spaces(answer, expected):
    text, cited = clean_markers(answer, {1, 2})
    if expected is None:
        expected = answer.replace(" [7]", "")
    assert text == expected and cited == [1]
