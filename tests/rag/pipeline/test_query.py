import pytest

from core.errors import InvalidInputError, NotFoundError
from rag.pipeline.answer import AnswerOptions
from rag.pipeline.query import QueryPipeline
from rag.pipeline.request import SearchOptions
from tests.rag.pipeline.fakes import FakeEmbedder, FakeGenerator, FakeReranker, FakeStore, chunk


def pipeline(store, generator=None, loaded=None):
    loaded = loaded if loaded is not None else []

    def embedder():
        loaded.append("embedder")
        return FakeEmbedder()

    def gen():
        loaded.append("generator")
        return generator or FakeGenerator("Espresso needs descaling [1].")

    return QueryPipeline(store, embedder, gen, reranker=lambda name: FakeReranker())


def store():
    return FakeStore(
        [chunk(1, 0.9, "espresso machines need descaling"), chunk(2, 0.5, "tea")],
        [chunk(1, 4.0, "espresso machines need descaling"), chunk(3, 2.0, "espresso beans")],
    )


def test_building_the_pipeline_loads_no_model_and_search_never_loads_the_generator():
    loaded: list[str] = []
    p = pipeline(store(), loaded=loaded)
    assert loaded == []
    s = store()
    p = pipeline(s, loaded=loaded)
    r = p.search("docs", "espresso descaling", k=2)
    assert [h.chunk_id for h in r.hits] == [1, 2] and r.hits[0].chunk.text.startswith("espresso machines")
    assert "generator" not in loaded
    assert s.fetched == [[1, 2]]  # one catalog read, for the k hits kept


def test_the_request_is_checked_at_the_boundary_before_any_stage():
    loaded: list[str] = []
    p = pipeline(store(), loaded=loaded)
    with pytest.raises(InvalidInputError):
        p.search("docs", "  ", k=2)
    with pytest.raises(InvalidInputError):
        p.ask("docs", "why?", k=0)
    with pytest.raises(NotFoundError):
        p.search("missing", "espresso", k=2)
    with pytest.raises(InvalidInputError, match="nope"):  # tools are selected once, in the prepared question
        p.prepare("docs", "why?", k=2, answer=AnswerOptions(tools=("nope",)))
    assert loaded == []


@pytest.mark.parametrize(
    "options,stages",
    [
        (SearchOptions(fusion="dense"), {"embed", "dense", "fetch"}),
        (SearchOptions(fusion="bm25"), {"bm25", "fetch"}),
        (SearchOptions(), {"embed", "dense", "bm25", "fuse", "fetch"}),
        (SearchOptions(fusion="convex", rerank="maxsim"), {"embed", "dense", "bm25", "fuse", "fetch", "rerank"}),
        (SearchOptions(hyde=True), {"hyde", "embed", "dense", "bm25", "fuse", "fetch"}),
    ],
)
def test_each_switch_runs_its_stages(options, stages):
    r = pipeline(store()).search("docs", "espresso", k=2, options=options)
    assert set(r.timings.as_dict()) == stages
    assert len(r.hits) <= 2


GENERATED = AnswerOptions(mode="auto")  # the generating modes' flow (mode "reader" writes nothing)


def test_ask_generates_from_the_retrieved_passages_and_cites():
    generator = FakeGenerator("Espresso machines need descaling [1].")
    answer = pipeline(store(), generator).ask("docs", "What do espresso machines need?", k=2, answer=GENERATED)
    messages, _ = generator.calls[-1]
    assert "espresso machines need descaling" in messages[-1].content
    assert answer.citations and answer.citations[0].number == 1
    assert "generate" in answer.timings.as_dict()
    assert answer.usage.prompt_tokens == 10 and answer.usage.generated_tokens == 5


def test_a_question_nothing_relevant_answers_is_abstained_on_without_generating():
    generator = FakeGenerator("Something.")
    answer = pipeline(store(), generator).ask("docs", "Zebra migration routes?", k=2, answer=GENERATED)
    assert answer.abstained and answer.abstain_reason == "no_relevant_passage"
    assert generator.calls == [] and answer.citations == [] and answer.sentences == []
    assert answer.passages and "Zebra migration routes?" not in answer.answer  # said once, without the question


@pytest.mark.parametrize("mode", ["passages", "auto", "reader"])
def test_an_empty_collection_abstains_without_loading_the_generator(mode):
    loaded: list[str] = []
    answer = pipeline(FakeStore([], []), loaded=loaded).ask(
        "docs", "Zebra migration routes?", k=2, answer=AnswerOptions(mode)
    )
    assert answer.abstained and answer.abstain_reason == "no_passages" and answer.passages == []
    assert answer.answer == "I cannot answer this from the documents: the collection has no passages to search."
    assert "generator" not in loaded
    # with abstention off the answer is written, and only then is the generator loaded
    written = pipeline(FakeStore([], []), loaded=loaded).ask(
        "docs", "Zebra migration routes?", k=2, answer=AnswerOptions("passages", abstain=False)
    )
    assert not written.abstained and "generator" in loaded


def test_an_answer_no_passage_supports_is_abstained_on_unless_abstention_is_off():
    from rag.pipeline import AnswerOptions

    reply = "Bananas grow on trees [1]."
    answer = pipeline(store(), FakeGenerator(reply)).ask(
        "docs", "What do espresso machines need?", k=2, answer=GENERATED
    )
    assert answer.abstained and answer.abstain_reason == "unsupported"
    kept = pipeline(store(), FakeGenerator(reply)).ask(
        "docs", "What do espresso machines need?", k=2, answer=AnswerOptions(mode="auto", abstain=False)
    )
    assert not kept.abstained and kept.answer == reply
    assert [s.supported for s in kept.sentences] == [False] and kept.citations[0].how == "unsupported"


def test_a_marker_on_the_wrong_passage_is_corrected():
    answer = pipeline(store(), FakeGenerator("Espresso machines need descaling [2].")).ask(
        "docs", "What do espresso machines need?", k=2, answer=GENERATED
    )
    (sentence,) = answer.sentences
    assert sentence.supported and sentence.how == "corrected" and sentence.cited == (1,)
    assert answer.answer == "Espresso machines need descaling [1]." and answer.citations[0].how == "corrected"


def test_unknown_tools_and_modes_are_refused_at_the_boundary():
    from rag.pipeline import AnswerOptions

    generator = FakeGenerator()
    with pytest.raises(InvalidInputError, match="calculater"):
        pipeline(store(), generator).ask("docs", "x?", answer=AnswerOptions(tools=("calculater",)))
    with pytest.raises(InvalidInputError, match="answer mode"):
        AnswerOptions(mode="guess")
    with pytest.raises(InvalidInputError, match="unknown context"):
        AnswerOptions(context="cca")
    with pytest.raises(InvalidInputError, match="context 'prompt' with tools"):
        AnswerOptions(context="retro", tools=True)
    assert generator.calls == []


def test_context_retro_needs_a_generator_with_the_retrofit():
    from rag.pipeline import AnswerOptions

    generator = FakeGenerator()
    options = AnswerOptions(context="retro", abstain=False)
    with pytest.raises(InvalidInputError, match="context 'retro' needs the torch generator"):
        pipeline(store(), generator).ask("docs", "What do espresso machines need?", k=2, answer=options)
    assert generator.calls == []
