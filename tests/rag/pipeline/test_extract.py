"""Candidate spans of extractive answers: word-aligned, free of the question's words, no function words at the edges."""

from __future__ import annotations

from rag.pipeline.extract import MAX_SPAN_WORDS, candidate_runs


def spans(question: str, sentence: str) -> set[str]:
    out = set()
    for words, ends in candidate_runs(question, sentence):
        for e in ends:
            out.add(sentence[words[0][0] : words[e - 1][1]])
    return out


def test_candidates_leave_out_the_question_and_function_words_at_their_edges():
    found = spans("Who patented a steam engine?", "James Watt patented a steam engine that produced rotary motion.")
    assert {"James", "James Watt", "Watt"} <= found
    assert "produced rotary motion." in found  # edge punctuation is stripped later, when the span is chosen
    assert not any(w in s.split() for s in found for w in ("patented", "steam", "engine"))
    assert not any(s.split()[0].lower() in {"a", "that", "the"} for s in found)


def test_candidates_are_at_most_max_span_words_long():
    sentence = " ".join(f"w{i}" for i in range(30))
    assert max(len(s.split()) for s in spans("what?", sentence)) == MAX_SPAN_WORDS


def test_a_sentence_made_of_the_question_has_no_candidate():
    assert candidate_runs("Paris is big", "Paris is big") == []
