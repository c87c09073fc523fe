from rag.pipeline.request import Hit, Query, Retrieval, SearchOptions, Timings
from rag.pipeline.rerank import Rerank
from tests.rag.pipeline.fakes import COLLECTION, FakeReranker, chunk


def hits():
    texts = ["nothing here", "espresso only", "espresso machine repair guide", "tail passage espresso machine"]
    return [Hit(i, 1.0 - i / 10, dense=1.0 - i / 10, chunk=chunk(i, 1.0 - i / 10, t)) for i, t in enumerate(texts)]


def test_rerank_reorders_the_candidates_and_keeps_first_stage_scores():
    names = []

    def get(name):
        names.append(name)
        return FakeReranker()

    q = Query(COLLECTION, "espresso machine repair", 4, SearchOptions(rerank="maxsim", candidates=3))
    r = Rerank(get)(q, Retrieval(hits(), Timings(dense=0.1)))
    assert names == ["maxsim"]
    ids = [h.chunk_id for h in r.hits]
    assert ids == [2, 1, 0, 3]  # the three candidates reranked; the fourth stays after them
    assert r.hits[0].rerank == 3.0 and r.hits[0].dense == 0.8 and r.hits[0].score == 3.0
    assert r.hits[3].rerank is None
    assert set(r.timings.as_dict()) == {"dense", "rerank"}


def test_rerank_off_loads_nothing():
    def get(name):
        raise AssertionError("a reranker was loaded")

    retrieval = Retrieval(hits(), Timings())
    assert Rerank(get)(Query(COLLECTION, "q", 2, SearchOptions()), retrieval) is retrieval
