"""The numbers check (issue 31): numbers are compared as values, and an invented one makes a sentence unsupported."""

from __future__ import annotations

from rag.pipeline.prompt import Passage
from rag.pipeline.support import SupportChecker
from tests.rag.pipeline.fakes import FakeReranker, chunk

SEALS = "The survey team counted 214 grey seals on the island"
HOTEL_ROW = "2024-02-02,travel,Hotel in Berlin,1,310.00"


def test_numbers_are_compared_as_values():
    from rag.pipeline.numbers import missing_numbers, numbers_in

    assert numbers_in("1,310.00 and 253.640, 03, 17.5% and 1,5") == {"1310", "253.64", "3", "17.5", "1", "5"}
    assert numbers_in("v1.2.3 in 12,345,678.90") == {"1.2", "12345678.9"}
    assert missing_numbers("The total is 214 + 2 = 238 grey seals.", [SEALS, "pups: 2"]) == ("238",)
    assert missing_numbers("The hotel cost 1310.", [HOTEL_ROW]) == ()


def test_an_invented_number_makes_a_sentence_unsupported_and_says_so():
    checker = SupportChecker(FakeReranker)  # the fake scores shared words: every sentence here shares some
    passages = [Passage(1, chunk(1, text=SEALS)), Passage(2, chunk(2, text=HOTEL_ROW))]
    checked = checker("The survey team counted 238 grey seals [1]. The Hotel in Berlin cost 1310 [2].", passages)
    invented, hotel = checked.sentences
    assert not invented.supported and invented.reason == "number not in sources"
    assert hotel.supported and hotel.reason is None  # "1,310.00" in the passage is 1310
    words = checker("The survey team saw whales [1].", passages[1:]).sentences[0]
    assert not words.supported and words.reason == "no passage supports it"
    (alone,) = checker("Something is true.", []).sentences
    assert alone.reason == "no passages"


def test_the_number_of_a_list_item_is_not_a_claim():
    from rag.pipeline.numbers import missing_numbers, numbers_in

    assert missing_numbers("2. Run the build with the theme flag.", ["Run the build; a flag picks the theme."]) == ()
    assert missing_numbers("  12) Open the page.", []) == ()
    assert numbers_in("1. Install 3 packages\n2. Wait 10 s") == {"3", "10"}
    assert missing_numbers("1707. The last eruption.", []) == ("1707",)  # four digits: a year, not a list
    assert missing_numbers("It costs 3. Then", []) == ("3",)  # a number ending a sentence is still one
