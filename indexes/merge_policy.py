"""The tiered merge policy shared by the BM25 segments and the store's vector runs.

As Lucene's: a part's tier is floor(log8(its size)); eight parts of one tier merge
into one, so each row is rewritten about log8(N) times; past ``max_parts`` the
smallest merge, bounding the number of parts a search visits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MERGE_FACTOR = 8  # tiers are floor(log8(size)), computed on bit lengths: keep this 8


def tier(size: int) -> int:
    """floor(log8(size)), exactly (a size of 0 counts as 1)."""
    return (max(size, 1).bit_length() - 1) // 3


@dataclass(frozen=True)
class TieredMergePolicy:
    """Which parts (segments, runs) to merge next, from their sizes alone.

    Attributes:
        max_parts: past this many parts the smallest ones merge, whatever their tiers.
    """

    max_parts: int

    def plan(self, sizes: Sequence[int]) -> list[int] | None:
        """Positions (ascending) of the parts to merge next, or None while the parts are in shape."""
        tiers: dict[int, list[int]] = {}
        for i, size in enumerate(sizes):
            tiers.setdefault(tier(size), []).append(i)
        full = [members for members in tiers.values() if len(members) >= MERGE_FACTOR]
        if full:
            return full[0][:MERGE_FACTOR]
        if len(sizes) > self.max_parts:
            by_size = sorted(range(len(sizes)), key=lambda i: sizes[i])
            return sorted(by_size[: len(sizes) - self.max_parts + 1])
        return None
