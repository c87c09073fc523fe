"""SpanMachine: outputs are word-aligned spans of the given texts, nothing else."""

from __future__ import annotations

import pytest

from indexes.errors import ConfigError
from rag.model.substring import SpanMachine, span_of

TEXTS = ["The Normans were in Normandy.\n  Charlemagne   ruled them.", "Another passage, with commas."]


def run(machine: SpanMachine, output: str):
    """None when a byte is refused; else whether the machine accepts the whole output."""
    state = machine.initial()
    for byte in output.encode("utf-8"):
        state = machine.step(state, byte)
        if state is None:
            return None
    return machine.accepting(state)


@pytest.fixture(scope="module")
def machine():
    return SpanMachine(TEXTS)


@pytest.mark.parametrize(
    "output",
    [" Normans", " The Normans were", " Normandy. Charlemagne ruled", " them.", " with commas", " passage,"],
)
def test_word_aligned_spans_are_accepted(machine, output):
    assert run(machine, output) is True


@pytest.mark.parametrize(
    "output,expected",
    [
        (" Norm", False),  # stops inside a word: refused at the end
        (" ", False),  # only the leading space
        (" arlemagne", None),  # starts inside a word
        ("Normans", None),  # no leading space
        (" them. Another", None),  # crosses from one text into the next
        (" Normans ruled", None),  # not contiguous
        (" normans", None),  # case matters: the span is copied
    ],
)
def test_everything_else_is_refused(machine, output, expected):
    assert run(machine, output) is expected


def test_every_substring_of_a_random_text_is_accepted_at_word_ends():
    import random

    rng = random.Random(0)
    words = ["alpha", "beta", "gamma", "delta", "3.5", "x-ray", "été"]
    text = " ".join(rng.choice(words) for _ in range(60))
    machine = SpanMachine([text])
    tokens = text.split(" ")
    for _ in range(200):
        i = rng.randrange(len(tokens))
        j = rng.randrange(i, min(len(tokens), i + 8)) + 1
        assert run(machine, " " + " ".join(tokens[i:j])) is True


def test_span_of_points_into_the_original_text():
    where = span_of(" Normandy. Charlemagne ruled", TEXTS)
    assert where is not None
    i, start, end = where
    assert i == 0 and TEXTS[0][start:end] == "Normandy.\n  Charlemagne   ruled"
    assert span_of("commas", TEXTS)[0] == 1
    assert span_of("absent words", TEXTS) is None


def test_blank_texts_are_refused():
    with pytest.raises(ConfigError):
        SpanMachine(["  ", ""])
