import pytest

from core.errors import InvalidInputError
from ingest.errors import PayloadTooLargeError
from rag.pipeline.request import (
    MAX_K,
    MAX_QUERY_CHARS,
    Query,
    SearchOptions,
    Timings,
    check_k,
    check_text,
    question_head,
    reranker_name,
)
from tests.rag.pipeline.fakes import COLLECTION


def test_options_check_every_switch():
    assert SearchOptions() == SearchOptions("convex", False, None, 50)
    for bad in (
        dict(fusion="best"),
        dict(candidates=0),
        dict(candidates=10_000),
        dict(candidates=True),
        dict(hyde="yes"),
        dict(hyde=True, fusion="bm25"),
        dict(rerank="nope"),
    ):
        with pytest.raises(InvalidInputError):
            SearchOptions(**bad)


def test_replace_applies_only_given_values_and_reads_rerank_switches():
    base = SearchOptions(fusion="convex", candidates=20)
    assert base.replace(fusion=None, hyde=None) == base
    assert base.replace(hyde=True).hyde is True
    assert base.replace(rerank=False).rerank is None
    assert base.replace(rerank="maxsim").rerank == "maxsim"
    assert base.replace(rerank=True).rerank == reranker_name(True) and reranker_name(True)
    with pytest.raises(InvalidInputError, match="unknown reranker"):
        base.replace(rerank="nope")
    with pytest.raises(InvalidInputError):
        reranker_name(3)


def test_text_and_k_checks():
    assert check_text("  hi  ") == "hi"
    for bad in ("", "   ", None):
        with pytest.raises(InvalidInputError, match="empty"):
            check_text(bad)
    for bad in (0, MAX_K + 1, "3", True):
        with pytest.raises(InvalidInputError):
            check_k(bad)


def test_query_depth_is_at_least_k():
    assert Query(COLLECTION, "q", 5, SearchOptions(candidates=50)).depth == 50
    assert Query(COLLECTION, "q", 80, SearchOptions(candidates=10)).depth == 80


def test_timings_add_merge_and_report_only_stages_that_ran():
    t = Timings()
    with t.stage("dense"):
        pass
    t.add("dense", 0.5)
    other = Timings(bm25=0.25, dense=0.25)
    t.merge(other)
    assert set(t.as_dict()) == {"dense", "bm25"}
    assert t.dense >= 0.75 and t.bm25 == 0.25
    assert list(Timings(generate=1.0, embed=2.0).as_dict()) == ["embed", "generate"]
    with pytest.raises(ValueError):
        with t.stage("nap"):
            pass


def test_a_long_query_is_accepted_up_to_a_generous_limit_named_by_the_refusal():
    paragraph = "Pasting a paragraph to find related documents is a fair query. " * 75  # 4,725 characters
    assert len(paragraph) > 4_000 and check_text(paragraph) == paragraph.strip()
    assert len(check_text("a" * MAX_QUERY_CHARS)) == MAX_QUERY_CHARS >= 100_000
    with pytest.raises(PayloadTooLargeError, match="the limit is 100,000"):  # an HTTP 413
        check_text("a" * (MAX_QUERY_CHARS + 1), "question")


def words(text: str) -> int:
    return len(text.split())


def test_question_head_keeps_the_words_that_fit_the_token_budget():
    assert question_head("why is the sky blue?", words, 8) == "why is the sky blue?"  # fits: whole
    long = " ".join(f"w{i}" for i in range(50_000))
    head = question_head(long, words, 128)
    assert long.startswith(head) and words(head) == 128 and head.endswith("w127")
    # no space to cut at (an identifier, CJK text): cut inside the word, still within the budget
    chars = lambda text: len(text)  # noqa: E731  (one token per character)
    assert question_head("x" * 10_000, chars, 100) == "x" * 100
    # the tokenizer is asked about the beginning only, however long the text
    asked: list[int] = []
    question_head("word " * 20_000, lambda t: asked.append(len(t)) or words(t), 64)
    assert max(asked) <= 64 * 16
