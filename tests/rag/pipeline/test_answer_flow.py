"""QueryPipeline.answer / ask end to end over fakes: citations, abstention, streaming, cancellation, timings.

No model is loaded: the store, embedder, generator and reranker are the deterministic
fakes of :mod:`tests.rag.pipeline.fakes` (the fake reranker scores a sentence by the
question's words it holds, and serves both the focus stage and the support check), so
every expectation below is exact.
"""

from __future__ import annotations

import dataclasses

import pytest

from core.errors import InvalidInputError
from rag.generate.base import GenerationResult
from rag.pipeline import AnswerCancelled, AnswerOptions, QueryPipeline, SearchOptions, Timings
from rag.pipeline.citations import citation_of
from tests.rag.pipeline.fakes import FakeEmbedder, FakeGenerator, FakeReranker, FakeStore, chunk

ESPRESSO = "espresso machines need descaling"
TEA = "tea leaves steep in hot water"
QUESTION = "What do espresso machines and tea leaves need?"
PASSAGES = AnswerOptions(mode="passages")


class FakeStreamingGenerator(FakeGenerator):
    """A fake generator that hands its fixed reply to ``on_text`` in scripted pieces, and records them."""

    name = "fake-streaming"

    def __init__(self, pieces: list[str]) -> None:
        super().__init__("".join(pieces))
        self.pieces = pieces
        self.handed: list[str] = []

    def generate_streaming(self, messages, config, on_text):
        self.calls.append((messages, config))
        for piece in self.pieces:
            self.handed.append(piece)
            on_text(piece)  # an exception here stops the generation, as the real backends do
        return GenerationResult(self.reply, 10, len(self.pieces), "stop")


class RecordingFakeReranker(FakeReranker):
    """The fake reranker, recording what it was asked to score."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    def score(self, query, passages):
        self.queries.append(query)
        return super().score(query, passages)


def fake_store(dense=None, lexical=None) -> FakeStore:
    dense = [chunk(1, 0.9, ESPRESSO), chunk(2, 0.5, TEA)] if dense is None else dense
    lexical = [chunk(1, 4.0, ESPRESSO), chunk(2, 2.0, TEA)] if lexical is None else lexical
    return FakeStore(dense, lexical)


def pipeline(generator, store=None, reranker=None, **kwargs) -> QueryPipeline:
    reranker = reranker or FakeReranker()
    return QueryPipeline(
        store or fake_store(), FakeEmbedder, lambda: generator, reranker=lambda name: reranker, **kwargs
    )


def without_timings(answer):
    return dataclasses.replace(answer, timings=Timings())


def test_markers_cite_the_passages_they_name():
    reply = "Espresso machines need descaling [1]. Tea leaves steep in hot water [2]."
    answer = pipeline(FakeGenerator(reply)).ask("docs", QUESTION, k=2, answer=PASSAGES)
    assert not answer.abstained and answer.mode == "passages"
    assert [p.chunk.chunk_id for p in answer.passages] == [1, 2]
    assert answer.answer == reply
    assert [(c.number, c.text, c.how) for c in answer.citations] == [(1, ESPRESSO, "marker"), (2, TEA, "marker")]
    assert answer.citations == [citation_of(p, "marker") for p in answer.passages]
    assert [(s.cited, s.supported) for s in answer.sentences] == [((1,), True), ((2,), True)]
    assert answer.usage.prompt_tokens == 10 and answer.usage.generated_tokens == 5


def test_passages_mode_writes_from_the_whole_numbered_passages():
    generator = FakeGenerator("Espresso machines need descaling [1].")
    pipeline(generator).ask("docs", QUESTION, k=2, answer=PASSAGES)
    ((messages, _),) = generator.calls
    assert f"[1] (a.txt)\n{ESPRESSO}" in messages[-1].content and f"[2] (a.txt)\n{TEA}" in messages[-1].content
    assert messages[-1].content.endswith(f"Question: {QUESTION}")


def test_auto_mode_falls_back_to_focus_without_constraints_and_extract_is_refused():
    generator = FakeGenerator("Espresso machines need descaling [1].")
    answer = pipeline(generator).ask("docs", QUESTION, k=2, answer=AnswerOptions(mode="auto"))
    assert answer.mode == "focus"
    ((messages, _),) = generator.calls
    assert "(a.txt)" not in messages[-1].content  # single sentences, labelled with their passage only
    assert f"[1] {ESPRESSO}" in messages[-1].content

    refused = FakeGenerator("x")
    with pytest.raises(InvalidInputError, match="answer mode 'extract'"):
        pipeline(refused).ask("docs", QUESTION, k=2, answer=AnswerOptions(mode="extract"))
    assert refused.calls == []


def test_a_marker_to_a_passage_that_does_not_exist_is_removed():
    answer = pipeline(FakeGenerator("Bananas grow on trees [7].")).ask(
        "docs", QUESTION, k=2, answer=AnswerOptions(mode="passages", abstain=False)
    )
    assert answer.answer == "Bananas grow on trees."
    assert answer.citations == []
    (sentence,) = answer.sentences
    assert sentence.cited == () and not sentence.supported


def test_a_removed_marker_is_replaced_by_the_passage_that_supports_the_sentence():
    answer = pipeline(FakeGenerator("Tea leaves steep in hot water [9].")).ask("docs", QUESTION, k=2, answer=PASSAGES)
    assert answer.answer == "Tea leaves steep in hot water [2]."
    assert [(c.number, c.text, c.how) for c in answer.citations] == [(2, TEA, "support")]


def test_nothing_relevant_abstains_with_the_closest_passages_and_without_generating():
    generator = FakeStreamingGenerator(["Espresso machines need descaling [1]."])
    heard: list[str] = []
    p = pipeline(generator, abstain_threshold=100.0)
    answer = p.answer(p.prepare("docs", QUESTION, k=2, answer=PASSAGES), heard.append)
    assert answer.abstained and answer.abstain_reason == "no_relevant_passage"
    # one short sentence: why, without the question or a pointer to the passages
    assert answer.answer == "I cannot answer this from the documents: none of the passages I found is relevant enough."
    assert answer.citations == [] and answer.sentences == []
    assert [p.chunk.chunk_id for p in answer.passages] == [1, 2]  # the closest passages, still listed
    assert answer.relevance == 2.0  # the fake reranker's best sentence holds two of the question's words
    assert generator.calls == [] and heard == []
    assert "generate" not in answer.timings.as_dict() and "focus" in answer.timings.as_dict()


def test_abstention_off_answers_even_when_nothing_is_relevant():
    reply = "Espresso machines need descaling [1]."
    generator = FakeGenerator(reply)
    answer = pipeline(generator, abstain_threshold=100.0).ask(
        "docs", QUESTION, k=2, answer=AnswerOptions(mode="passages", abstain=False)
    )
    assert not answer.abstained and answer.abstain_reason is None
    assert len(generator.calls) == 1 and answer.answer == reply
    assert [(c.number, c.how) for c in answer.citations] == [(1, "marker")]


def test_an_empty_collection_abstains_for_want_of_passages():
    generator = FakeGenerator("Something [1].")
    answer = pipeline(generator, fake_store([], [])).ask("docs", QUESTION, k=2, answer=PASSAGES)
    assert answer.abstained and answer.abstain_reason == "no_passages"
    assert answer.passages == [] and answer.citations == [] and generator.calls == []


def test_streaming_hears_the_raw_text_once_and_the_answer_is_the_same_as_without_it():
    reply = "Espresso machines need descaling [1][7]."  # [7] is no passage: only the final answer drops it
    heard: list[str] = []
    streamed = pipeline(FakeGenerator(reply)).ask("docs", QUESTION, k=2, answer=PASSAGES, on_text=heard.append)
    plain = pipeline(FakeGenerator(reply)).ask("docs", QUESTION, k=2, answer=PASSAGES)
    assert heard == [reply]  # the base Generator hands the whole reply once
    assert streamed.answer == "Espresso machines need descaling [1]."
    assert without_timings(streamed) == without_timings(plain)


def test_streaming_passes_on_each_piece_the_generator_hands_over():
    pieces = ["Espresso machines", " need descaling", " [1]", "."]
    generator = FakeStreamingGenerator(pieces)
    p = pipeline(generator)
    heard: list[str] = []
    streamed = p.answer(p.prepare("docs", QUESTION, k=2, answer=PASSAGES), heard.append)
    assert heard == pieces and "".join(heard) == generator.reply
    plain = pipeline(FakeGenerator(generator.reply)).ask("docs", QUESTION, k=2, answer=PASSAGES)
    assert streamed.answer == plain.answer == "Espresso machines need descaling [1]."
    assert streamed.citations == plain.citations and streamed.sentences == plain.sentences
    assert streamed.usage.generated_tokens == len(pieces)  # the streaming call's result is the one used


def test_a_sink_that_cancels_stops_the_answer():
    generator = FakeStreamingGenerator(["Espresso machines", " need descaling", " [1]."])
    reranker = RecordingFakeReranker()
    heard: list[str] = []

    def hang_up(piece: str) -> None:
        heard.append(piece)
        raise AnswerCancelled("the client went away")

    with pytest.raises(AnswerCancelled):
        pipeline(generator, reranker=reranker).ask("docs", QUESTION, k=2, answer=PASSAGES, on_text=hang_up)
    assert heard == ["Espresso machines"] and generator.handed == ["Espresso machines"]
    assert reranker.queries == [QUESTION]  # the focus stage ran; the support check never did


def test_a_sink_that_cancels_after_the_base_generators_single_piece_also_stops_the_answer():
    reranker = RecordingFakeReranker()

    def hang_up(piece: str) -> None:
        raise AnswerCancelled

    with pytest.raises(AnswerCancelled):
        pipeline(FakeGenerator("Espresso machines need descaling [1]."), reranker=reranker).ask(
            "docs", QUESTION, k=2, answer=PASSAGES, on_text=hang_up
        )
    assert reranker.queries == [QUESTION]


def test_timings_are_a_typed_value_with_every_stage_that_ran():
    answer = pipeline(FakeGenerator("Espresso machines need descaling [1].")).ask(
        "docs", QUESTION, k=2, answer=PASSAGES
    )
    assert isinstance(answer.timings, Timings)
    stages = answer.timings.as_dict()
    assert list(stages) == ["embed", "dense", "bm25", "fuse", "fetch", "focus", "generate", "support"]
    assert all(isinstance(s, float) for s in stages.values())
    assert answer.timings.rerank is None and answer.timings.tools is None  # stages that did not run

    dense_only = pipeline(FakeGenerator("Espresso machines need descaling [1].")).ask(
        "docs", QUESTION, k=2, options=SearchOptions(fusion="dense"), answer=PASSAGES
    )
    assert list(dense_only.timings.as_dict()) == ["embed", "dense", "fetch", "focus", "generate", "support"]


def test_ask_is_answer_on_the_checked_query():
    reply = "Espresso machines need descaling [1]."
    p = pipeline(FakeGenerator(reply))
    asked = p.ask("docs", f"  {QUESTION}  ", k=2, answer=PASSAGES)
    answered = p.answer(p.prepare("docs", QUESTION, k=2, answer=PASSAGES))
    assert without_timings(asked) == without_timings(answered)


def test_each_stage_is_heard_as_it_starts_before_the_text_it_leads_to():
    heard: list[tuple[str, str]] = []
    generator = FakeStreamingGenerator(["Espresso machines", " need descaling [1]."])
    pipeline(generator).ask(
        "docs",
        QUESTION,
        k=2,
        answer=PASSAGES,
        on_text=lambda piece: heard.append(("token", piece)),
        on_stage=lambda stage: heard.append((stage.name, stage.message)),
    )
    assert heard == [
        ("search", "searching 1 document"),
        ("write", "writing the answer"),
        ("token", "Espresso machines"),
        ("token", " need descaling [1]."),
        ("check", "checking the answer against the passages"),
    ]


def test_an_abstention_before_writing_is_heard_as_a_search_alone():
    heard = []
    answer = pipeline(FakeGenerator("x"), abstain_threshold=100.0).ask(
        "docs", QUESTION, k=2, answer=PASSAGES, on_stage=heard.append
    )
    assert answer.abstained and [s.name for s in heard] == ["search"]


def test_every_abstention_is_one_short_sentence_that_does_not_repeat_the_question():
    from rag.pipeline.answer import ABSTAIN_REASONS, abstention_message

    for reason in ABSTAIN_REASONS:
        message = abstention_message(reason)
        assert message.count(".") == 1 and message.endswith(".") and len(message) < 100
        assert "below" not in message and "looked for" not in message


def test_listeners_hear_each_search_and_each_answer_once_whatever_the_door():
    p = pipeline(FakeGenerator("Espresso machines need descaling [1]."))
    searched, answered = [], []
    p.listeners.searched.append(searched.append)
    p.listeners.answered.append(answered.append)
    hits = p.search("docs", "espresso", k=2)
    answer = p.ask("docs", QUESTION, k=2, answer=PASSAGES, on_text=lambda _: None)
    assert searched == [hits] and answered == [answer]  # the answer's own retrieval is not a search


def test_a_request_writes_with_its_own_settings_and_only_lowers_the_budget():
    from rag.pipeline.answer import WriteSettings

    generator = FakeGenerator("Espresso machines need descaling [1].")
    writing = WriteSettings(temperature=0.7, max_tokens=3, stop=("\n\n",))
    pipeline(generator).ask("docs", QUESTION, k=2, answer=AnswerOptions(mode="passages", writing=writing))
    pipeline(generator).ask("docs", QUESTION, k=2, answer=AnswerOptions(mode="passages"))
    (_, asked), (_, default) = generator.calls
    assert (asked.temperature, asked.max_tokens, asked.stop) == (0.7, 3, ("\n\n",))
    assert (default.temperature, default.stop) == (0.0, ()) and default.max_tokens > 3
