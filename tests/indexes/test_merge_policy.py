"""The tiered merge policy that BM25 segments and the store's vector runs share."""

from __future__ import annotations

import pytest

import indexes
from indexes.merge_policy import MERGE_FACTOR, TieredMergePolicy, tier


@pytest.mark.parametrize(("size", "expected"), [(0, 0), (1, 0), (7, 0), (8, 1), (63, 1), (64, 2), (511, 2), (512, 3)])
def test_tier_is_floor_log8(size, expected):
    assert tier(size) == expected


def test_parts_in_shape_are_left_alone():
    assert TieredMergePolicy(max_parts=16).plan([1000, 100, 10, 1]) is None
    assert TieredMergePolicy(max_parts=16).plan([]) is None


def test_eight_parts_of_one_tier_merge_first():
    sizes = [5000, 9, 10, 11, 12, 13, 14, 15, 16, 17]  # nine of tier 1, one of tier 4
    assert TieredMergePolicy(max_parts=16).plan(sizes) == list(range(1, 1 + MERGE_FACTOR))


def test_past_max_parts_the_smallest_merge():
    sizes = [1, 10, 100, 1000, 2, 20]  # no tier holds eight
    assert TieredMergePolicy(max_parts=4).plan(sizes) == [0, 1, 4]  # the three smallest (1, 10, 2): 6 parts -> 4


def test_a_learned_index_states_its_training_bounds():
    ivf = indexes.parse_spec("IVF64,PQ8x8")
    assert ivf.training_bounds().min_points == 39 * 256  # the PQ codewords dominate
    assert ivf.training_bounds().max_points == 256 * 256
    assert indexes.parse_spec("IVF1024,PQ8x4").training_bounds().min_points == 39 * 1024
    assert indexes.parse_spec("HNSW32").training_bounds().max_points == 0  # needs no training
