import numpy as np
import pytest

from rag.pipeline.hyde import HyDE
from rag.pipeline.request import Query, SearchOptions
from rag.pipeline.retrieve import DenseRetriever, HybridRetriever, LexicalRetriever, QueryEncoder, fuse
from tests.rag.pipeline.fakes import COLLECTION, FakeEmbedder, FakeGenerator, FakeStore, chunk


def retrievers(store, generator=None):
    encoder = QueryEncoder(lambda _model: FakeEmbedder(), HyDE(lambda: generator or FakeGenerator()))
    dense = DenseRetriever(store, encoder)
    lexical = LexicalRetriever(store)
    return dense, lexical, HybridRetriever(dense, lexical)


def test_dense_and_lexical_keep_their_own_scores_and_time_their_stages():
    store = FakeStore([chunk(1, 0.9), chunk(2, 0.8)], [chunk(2, 7.0), chunk(3, 5.0)])
    dense, lexical, _ = retrievers(store)
    q = Query(COLLECTION, "espresso", 2, SearchOptions(fusion="dense"))
    d = dense(q, 2)
    assert [(h.chunk_id, h.dense, h.bm25) for h in d.hits] == [
        (1, pytest.approx(0.9), None),
        (2, pytest.approx(0.8), None),
    ]
    assert set(d.timings.as_dict()) == {"embed", "dense"}
    assert store.vectors[0].shape == (1, 4)
    b = lexical(q, 1)
    assert [(h.chunk_id, h.bm25) for h in b.hits] == [(2, 7.0)] and store.texts == ["espresso"]
    assert set(b.timings.as_dict()) == {"bm25"}


@pytest.mark.parametrize("fusion", ["rrf", "convex"])
def test_hybrid_fuses_both_rankings_and_keeps_both_scores(fusion):
    store = FakeStore([chunk(1, 0.9), chunk(2, 0.8), chunk(3, 0.1)], [chunk(2, 7.0), chunk(4, 5.0), chunk(3, 1.0)])
    _, _, hybrid = retrievers(store)
    r = hybrid(Query(COLLECTION, "espresso", 3, SearchOptions(fusion=fusion)), 3)
    ids = [h.chunk_id for h in r.hits]
    assert ids[0] == 2  # second in dense, first in BM25: first in both fusions
    assert len(ids) == 3 and set(ids) <= {1, 2, 3, 4}
    two = next(h for h in r.hits if h.chunk_id == 2)
    assert two.dense == pytest.approx(0.8) and two.bm25 == 7.0 and two.chunk is None  # rows are read later
    assert set(r.timings.as_dict()) == {"embed", "dense", "bm25", "fuse"}
    scores = [h.score for h in r.hits]
    assert scores == sorted(scores, reverse=True)


def test_fuse_refuses_a_single_retriever_name():
    with pytest.raises(ValueError):
        fuse("dense", [], [])


def test_hyde_calls_the_generator_and_averages_the_embeddings():
    store = FakeStore([chunk(1, 0.9)], [])
    generator = FakeGenerator("Espresso is brewed by forcing hot water through ground coffee.")
    dense, _, _ = retrievers(store, generator)
    r = dense(Query(COLLECTION, "how is espresso made?", 1, SearchOptions(fusion="dense", hyde=True)), 1)
    assert len(generator.calls) == 1
    messages, config = generator.calls[0]
    assert "how is espresso made?" in messages[-1].content and config.temperature == 0.0
    e = FakeEmbedder()
    expected = e.embed_query("how is espresso made?") + e.embed_query(generator.reply)
    expected /= np.linalg.norm(expected)
    np.testing.assert_allclose(store.vectors[0][0], expected, rtol=1e-5)
    assert set(r.timings.as_dict()) == {"hyde", "embed", "dense"}


def test_without_hyde_the_generator_is_never_loaded():
    store = FakeStore([chunk(1, 0.9)], [])

    def no_generator():
        raise AssertionError("the generator was loaded")

    dense = DenseRetriever(store, QueryEncoder(lambda _model: FakeEmbedder(), HyDE(no_generator)))
    assert dense(Query(COLLECTION, "q", 1, SearchOptions(fusion="dense")), 1).hits


def test_fetch_reads_the_rows_once_and_drops_hits_without_one():
    from rag.pipeline.request import Hit, Retrieval, Timings
    from rag.pipeline.retrieve import FetchChunks

    store = FakeStore([chunk(1, 0.9), chunk(2, 0.8)], [])
    r = FetchChunks(store)(Retrieval([Hit(2, 0.5), Hit(7, 0.4), Hit(1, 0.3)], Timings(dense=0.1)))
    assert [(h.chunk_id, h.chunk.chunk_id, h.chunk.score) for h in r.hits] == [(2, 2, 0.5), (1, 1, pytest.approx(0.3))]
    assert store.fetched == [[2, 7, 1]] and set(r.timings.as_dict()) == {"dense", "fetch"}
