"""Checked citations with the real support model (MaxSim over the packaged MiniLM)."""

from __future__ import annotations

import pytest

from rag.pipeline.prompt import Passage
from rag.pipeline.support import SupportChecker, numbers_in, quote_share, strip_markers
from tests.rag.pipeline.fakes import chunk

EIFFEL = (
    "The Eiffel Tower is a wrought-iron lattice tower in Paris. It was designed by the company of the "
    "engineer Gustave Eiffel and built from 1887 to 1889 as the entrance to the World's Fair."
)
FUJI = "Mount Fuji is the highest mountain in Japan, at 3,776 metres. It last erupted in 1707."
KIWI = "The kiwi is a flightless bird native to New Zealand. Kiwi lay very large eggs relative to their body size."
PASSAGES = [Passage(1, chunk(1, text=EIFFEL)), Passage(2, chunk(2, text=FUJI)), Passage(3, chunk(3, text=KIWI))]


@pytest.fixture(scope="module")
def checker():
    from rag.rerank.base import get_reranker

    return SupportChecker(lambda: get_reranker("maxsim"))


def test_a_supported_sentence_keeps_its_marker(checker):
    checked = checker("The Eiffel Tower was built from 1887 to 1889 [1].", PASSAGES)
    (s,) = checked.sentences
    assert s.supported and s.passage == 1 and s.cited == (1,) and s.how == "marker"
    assert checked.text == "The Eiffel Tower was built from 1887 to 1889 [1]."


def test_a_wrong_marker_is_corrected_to_the_supporting_passage(checker):
    checked = checker("Mount Fuji is the highest mountain in Japan [3].", PASSAGES)
    (s,) = checked.sentences
    assert s.supported and s.how == "corrected" and s.cited == (2,)
    assert checked.text == "Mount Fuji is the highest mountain in Japan [2]."


def test_an_unsupported_sentence_is_marked_and_keeps_what_the_model_wrote(checker):
    checked = checker("The Eiffel Tower is a famous cheese from Normandy sold in Brazil [1].", PASSAGES)
    (s,) = checked.sentences
    assert not s.supported and s.how == "none" and s.cited == (1,)
    assert s.score < checker.threshold


def test_a_sentence_without_a_marker_gets_the_passage_that_supports_it(checker):
    checked = checker("Kiwi are flightless birds from New Zealand. The tower is in Paris.", PASSAGES)
    first, second = checked.sentences
    assert first.supported and first.cited == (3,) and first.how == "support"
    assert second.supported and second.cited == (1,)
    assert checked.text == "Kiwi are flightless birds from New Zealand [3]. The tower is in Paris [1]."
    assert checked.text[second.start : second.end] == "The tower is in Paris [1]."


def test_a_wrong_number_is_not_supported_even_when_the_words_match(checker):
    checked = checker("Mount Fuji is 4,200 metres high [2].", PASSAGES)
    assert not checked.sentences[0].supported
    assert checker("Mount Fuji is 3776 metres high [2].", PASSAGES).sentences[0].supported


def test_quotes_and_numbers_and_markers_helpers():
    assert quote_share("built from 1887 to 1889 as the entrance", EIFFEL) == 1.0
    assert quote_share("a tower in Paris by a river", EIFFEL) == 0.0  # a run under QUOTE_WORDS words proves nothing
    assert quote_share("Gustave Eiffel", EIFFEL) == 1.0  # a short answer copied whole (extractive answers)
    assert numbers_in("3,776 metres in 1707.") == {"3776", "1707"}
    assert strip_markers("Paris [1][2] and Rome [2, 3].") == ("Paris and Rome.", [1, 2, 3])


def test_no_passages_means_nothing_is_supported(checker):
    checked = checker("Something is true.", [])
    assert [s.supported for s in checked.sentences] == [False]
