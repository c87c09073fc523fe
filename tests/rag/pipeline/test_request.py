import pytest

from indexes.errors import InvalidInputError
from rag.pipeline.request import MAX_K, Query, SearchOptions, Timings, check_k, check_text, reranker_name
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
    for bad in ("", "   ", None, "x" * 5000):
        with pytest.raises(InvalidInputError):
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
