import pytest

from rag.pipeline.fusion import convex_fusion, min_max, reciprocal_rank_fusion


def test_rrf_on_known_rankings():
    a = [(1, 9.0), (2, 8.0), (3, 7.0)]
    b = [(3, 0.9), (1, 0.5), (4, 0.1)]
    fused = dict(reciprocal_rank_fusion([a, b], k=60))
    assert fused[1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[3] == pytest.approx(1 / 63 + 1 / 61)
    assert fused[2] == pytest.approx(1 / 62)
    assert fused[4] == pytest.approx(1 / 63)
    assert [i for i, _ in reciprocal_rank_fusion([a, b], k=60)] == [1, 3, 2, 4]


def test_rrf_ignores_score_scale_and_keeps_first_seen_order_on_ties():
    a = [(1, 1000.0), (2, 0.0)]
    b = [(2, 5.0), (1, -3.0)]
    assert [i for i, _ in reciprocal_rank_fusion([a, b])] == [1, 2]  # tie: 1 was seen first
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([a], k=-1)


def test_min_max_and_convex_on_known_scores():
    assert min_max([(1, 10.0), (2, 5.0), (3, 0.0)]) == {1: 1.0, 2: 0.5, 3: 0.0}
    assert min_max([(1, 3.0), (2, 3.0)]) == {1: 1.0, 2: 1.0}
    dense = [(1, 0.75), (2, 0.5), (3, 0.25)]  # -> 1.0, 0.5, 0.0
    bm25 = [(3, 12.0), (4, 6.0), (1, 0.0)]  # -> 1.0, 0.5, 0.0
    fused = convex_fusion([dense, bm25], [0.5, 0.5])
    assert dict(fused) == pytest.approx({1: 0.5, 2: 0.25, 3: 0.5, 4: 0.25})
    assert [i for i, _ in fused] == [1, 3, 2, 4]
    weighted = dict(convex_fusion([dense, bm25], [0.8, 0.2]))
    assert weighted[1] == pytest.approx(0.8) and weighted[3] == pytest.approx(0.2)
    with pytest.raises(ValueError):
        convex_fusion([dense, bm25], [1.0])
