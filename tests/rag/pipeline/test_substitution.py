"""The substitution check: a copied passage sentence with words swapped in is not supported by that passage."""

from __future__ import annotations

import pytest

from rag.pipeline.prompt import Passage
from rag.pipeline.substitution import aligned_share, changed_reason, changed_words, words
from tests.rag.pipeline.fakes import chunk

NORMANS = (
    "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy, a region in "
    "France. They were descended from Norse raiders and pirates from Denmark, Iceland and Norway. Their "
    "identity emerged initially in the first half of the 10th century under their leader Rollo."
)
CISCO = (
    "In 2013 Cisco provided a binary H.264 codec module that browsers can download at run time. "
    "Firefox uses it for WebRTC calls."
)


def test_a_span_from_another_paragraph_is_named():
    sentence = "They were descended from Viking traders and pirates from Denmark, Iceland and Norway."
    assert changed_words(sentence, NORMANS) == ("viking", "traders")


def test_a_span_moved_in_from_another_sentence_of_the_passage_is_named():
    # "Rollo" is in the passage, but not in the sentence this one copies
    sentence = "They were descended from Rollo and pirates from Denmark, Iceland and Norway."
    assert changed_words(sentence, NORMANS) == ("rollo",)


def test_the_passage_sentence_itself_and_its_inflections_change_nothing():
    assert changed_words("Their identity emerged initially in the first half of the 10th century.", NORMANS) == ()
    assert changed_words("The Norman gave their name to Normandy, a region in France.", NORMANS) == ()


def test_a_short_restatement_is_not_a_quote():
    assert changed_words("Cisco provided the codec [1].", CISCO) == ()
    assert changed_words("The codec came from Cisco.", CISCO) == ()


def test_numbers_and_function_words_are_left_to_other_checks():
    # numbers are the numbers check's; "however" and "also" are function words
    assert changed_words("However, Cisco also provided a binary H.264 codec module in 2014.", CISCO) == ()


def test_aligned_share_counts_words_in_shared_runs_only():
    mine, theirs = words("a b c d x e f g"), words("a b c d e f g h")
    assert aligned_share(mine, theirs) == pytest.approx(4 / 8)  # "e f g" is a run of 3: chance
    assert aligned_share(words("a b c x e f"), theirs) == 0.0


def test_the_reason_is_short():
    assert changed_reason(("viking", "traders", "merchants", "sailors")) == "changed words: viking, traders, merchants"


@pytest.fixture(scope="module")
def checker():
    from rag.pipeline.support import SupportChecker
    from rag.rerank.base import get_reranker

    return SupportChecker(lambda: get_reranker("maxsim"))


@pytest.mark.slow
def test_the_checker_rejects_a_swapped_sentence_and_says_which_words(checker):
    passages = [Passage(1, chunk(1, text=NORMANS)), Passage(2, chunk(2, text=CISCO))]
    # no name is swapped in (the terms check would catch "Viking"): only ordinary words
    checked = checker(
        "They were descended from seafaring traders and pirates from Denmark, Iceland and Norway [1].", passages
    )
    (s,) = checked.sentences
    assert not s.supported and s.how == "none" and s.reason == "changed words: seafaring, traders"
    kept = checker(
        "They were descended from Norse raiders and pirates from Denmark [1]. Cisco provided the codec [2].", passages
    )
    assert [s.supported for s in kept.sentences] == [True, True]
