"""From OpenAI's chat shape to the pipeline and back: the conversation, the sources list, the client's limits."""

from __future__ import annotations

import pytest

from api.openai_compat.convert import (
    Limits,
    StreamLimiter,
    answer_text,
    conversation,
    limited,
    sources,
    writing,
)
from api.openai_compat.schemas import ChatRequest, ContentPart, MessageIn
from core.errors import InvalidInputError
from rag.pipeline import Answer, Citation
from rag.pipeline.followup import Turn


def words(text: str) -> int:
    """A token counter for the tests: one token a word."""
    return len(text.split())


def citation(n: int, page: int | None = None) -> Citation:
    return Citation(n, 10 + n, f"doc{n}.md", page, 100 * n, 100 * n + 50, "text", 0.5, "reader")


def test_the_last_user_message_is_the_question_and_system_messages_are_left_out():
    messages = [
        MessageIn("system", "You are terse."),
        MessageIn("user", "Who founded Apple?"),
        MessageIn("assistant", [ContentPart("text", "Steve Jobs [1]")]),
        MessageIn("user", [ContentPart("text", "Where was he"), ContentPart("text", "born?")]),
    ]
    question, history = conversation(messages)
    assert question == "Where was he\nborn?"
    assert history == [Turn("user", "Who founded Apple?"), Turn("assistant", "Steve Jobs [1]")]
    with pytest.raises(InvalidInputError, match="last message must be the user's"):
        conversation(messages[:3])


def test_the_answer_ends_with_the_sources_its_markers_cite():
    answer = Answer("About 40 MB [2].", [citation(2, page=3), citation(4)], [])
    text, finish = answer_text(answer, Limits(), words)
    assert text == "About 40 MB [2].\n\nSources:\n2. doc2.md, page 3, chars 200-250" and finish == "stop"
    assert sources([citation(1)], "no marker here") == ""


def test_max_tokens_and_stop_cut_the_answer_and_say_why():
    assert limited("one two three four", Limits(max_tokens=2), words) == ("one two", "length")
    assert limited("one two. three", Limits(stop=(".",)), words) == ("one two", "stop")
    assert limited("one two", Limits(max_tokens=5, stop=("x",)), words) == ("one two", None)
    answer = Answer("About 40 MB of disk [1].", [citation(1)], [])
    text, finish = answer_text(answer, Limits(max_tokens=3), words)
    assert text == "About 40 MB" and finish == "length"  # its marker was cut: no source is listed


@pytest.mark.parametrize(
    "limits", [Limits(), Limits(max_tokens=4), Limits(stop=("STOP",)), Limits(max_tokens=3, stop=("ee",))]
)
def test_a_stream_sends_exactly_what_the_whole_answer_keeps(limits):
    text = "one two three STOP four five six"
    for size in (1, 2, 5, 40):
        limiter = StreamLimiter(limits, words)
        sent = "".join(limiter.feed(text[i : i + size]) for i in range(0, len(text), size)) + limiter.close()
        assert (sent, limiter.finish) == limited(text, limits, words), size


def test_stop_takes_a_string_or_up_to_four():
    assert Limits.of(ChatRequest(model="m", messages=[], stop="\n")).stop == ("\n",)
    request = ChatRequest(model="m", messages=[], max_tokens=50, max_completion_tokens=7)
    assert Limits.of(request) == Limits(7, ())
    with pytest.raises(InvalidInputError, match="at most 4"):
        Limits.of(ChatRequest(model="m", messages=[], stop=["a"] * 5))


def test_generation_settings_travel_with_the_request_and_only_lower_the_budget():
    from rag.generate.base import GenerationConfig

    base = GenerationConfig(max_tokens=256)
    assert writing(ChatRequest(model="m", messages=[]), Limits()).applied(base) is base
    settings = writing(ChatRequest(model="m", messages=[], temperature=0.7), Limits(max_tokens=1000, stop=("\n\n",)))
    config = settings.applied(base)
    assert (config.temperature, config.stop, config.max_tokens) == (0.7, ("\n\n",), 256)
    assert writing(ChatRequest(model="m", messages=[]), Limits(max_tokens=5)).applied(base).max_tokens == 5
    assert base.temperature == 0.0 and base.stop == ()
