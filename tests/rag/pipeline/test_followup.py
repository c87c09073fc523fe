"""The follow-up rewriter: what it carries from the history, and what it leaves alone."""

from __future__ import annotations

import pytest

from rag.pipeline.followup import Turn, noun_phrases, refers_back, rewrite


def user(text: str) -> Turn:
    return Turn("user", text)


@pytest.mark.parametrize(
    ("previous", "question", "expected"),
    [
        ("When was the Scottish Parliament established?", "How many members does it have?",
         "How many members does Scottish Parliament have?"),
        ("What was the Yuan dynasty called in Mongolian?", "and who founded it?", "and who founded Yuan dynasty?"),
        ("What is Warsaw's name in the Polish language?", "What is its symbol?", "What is Warsaw's symbol?"),
        ("What is the default port of the Vite dev server?", "Can I change it?", "Can I change Vite dev server?"),
    ],
)  # fmt: skip
def test_a_pronoun_becomes_the_previous_questions_subject(previous, question, expected):
    result = rewrite(question, [user(previous), Turn("assistant", "something [1]")])
    assert result.question == expected
    assert result.reason == "pronoun" and result.rewritten and result.original == question


def test_a_question_that_names_nothing_gets_the_subject_added():
    history = [user("What is Warsaw's name in the Polish language?")]
    assert rewrite("And the population?", history).question == "The population, about Warsaw?"
    assert rewrite("How many natural reserves are there?", history).question.endswith(", about Warsaw?")
    assert rewrite("Why?", history).question == "Why, about Warsaw?"


def test_a_standalone_question_is_left_as_asked():
    history = [user("When was the Scottish Parliament established?")]
    for question in ("What is the capital of France?", "How many members does the Scottish Parliament have?"):
        result = rewrite(question, history)
        assert result.question == question and not result.rewritten and result.subject is None


def test_without_history_or_subject_the_question_is_unchanged():
    assert rewrite("When did it end?", []).reason == "no_history"
    assert rewrite("When did it end?", [user("Why is that?")]).reason == "no_subject"
    assert rewrite("When did it end?", [Turn("assistant", "The Yuan dynasty [1]")]).reason == "no_history"


def test_he_or_she_after_a_who_question_is_its_short_answer():
    history = [user("Who founded Apple?"), Turn("assistant", "Steve Jobs [1]\n\nSources:\n1. apple.txt, chars 0-90")]
    assert rewrite("Where was he born?", history).question == "Where was Steve Jobs born?"
    assert rewrite("When was it founded?", history).question == "When was Apple founded?"  # "it" is no person


def test_a_chain_of_follow_ups_keeps_the_first_subject():
    history = [user("What was the Yuan dynasty called in Mongolian?"), Turn("assistant", "Dai Ön Ulus [1]"),
               user("When did it end?"), Turn("assistant", "1368 [2]")]  # fmt: skip
    assert rewrite("Who ruled it?", history).question == "Who ruled Yuan dynasty?"


def test_a_long_history_is_read_in_one_pass():
    history = [user("What is the capital of Poland?"), *[user("And why?") for _ in range(2000)]]
    assert rewrite("What is its symbol?", history).question == "What is Poland's symbol?"


def test_noun_phrases_put_names_first_and_drop_verbs():
    assert noun_phrases("What was the Yuan dynasty called in Mongolian?") == ["Yuan dynasty", "Mongolian"]
    assert noun_phrases("What are the two major subsystems of the immune system?") == [
        "immune system",
        "two major subsystems",
    ]
    assert noun_phrases("Where is vite.config.js loaded from?")[0] == "vite.config.js"
    assert noun_phrases("When did the Yuan dynasty end?") == ["Yuan dynasty"]


@pytest.mark.parametrize(
    ("question", "how"),
    [
        ("When was it built?", "pronoun"),
        ("When was that?", "pronoun"),
        ("and the capital?", "continuation"),
        ("What about Kraków?", "continuation"),
        ("Why?", "continuation"),
        ("What is the capital of France?", None),
        ("Which plugin handles that file type?", None),
    ],
)
def test_refers_back(question, how):
    assert refers_back(question) == how


def test_a_name_joined_by_and_or_of_stays_one_phrase():
    assert noun_phrases("When was the French and Indian War?") == ["French and Indian War"]
    assert "Church of Scotland" in noun_phrases("Where is the Church of Scotland's hall?")


def test_he_after_who_is_x_is_x_not_the_answer():
    history = [user("Who was Sayyid Qutb?"), Turn("assistant", "an Egyptian Islamist theorist [1]")]
    assert rewrite("When was he executed?", history).question == "When was Sayyid Qutb executed?"


def test_the_name_of_most_capitalised_words_is_the_subject():
    history = [user("What language other than English has the Scottish Parliament had meetings in?")]
    assert rewrite("Who represents it abroad?", history).question == "Who represents Scottish Parliament abroad?"
