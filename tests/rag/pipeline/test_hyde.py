import numpy as np

from rag.pipeline.hyde import HyDE, combine
from tests.rag.pipeline.fakes import FakeGenerator


def test_combine_is_the_normalised_mean():
    q = np.array([1.0, 0.0], np.float32)
    p = np.array([[0.0, 1.0]], np.float32)
    np.testing.assert_allclose(combine(q, p), np.array([1, 1], np.float32) / np.sqrt(2), rtol=1e-6)
    assert combine(q, np.empty((0, 2), np.float32)).tolist() == [1.0, 0.0]


def test_n_passages_first_greedy_then_sampled():
    gen = FakeGenerator("text")
    assert HyDE(lambda: gen, n=3, max_tokens=32)("What is HNSW?") == ["text", "text", "text"]
    configs = [c for _, c in gen.calls]
    assert [c.temperature for c in configs] == [0.0, 0.7, 0.7]
    assert all(c.max_tokens == 32 for c in configs)


def test_an_empty_reply_is_dropped():
    assert HyDE(lambda: FakeGenerator("   "))("q") == []
