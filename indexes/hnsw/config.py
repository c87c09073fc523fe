"""Build and search parameters of HNSW, parsed from specs such as ``HNSW32`` or ``HNSW32,ef_construction=400``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from core.errors import ConfigError
from indexes.approximate import FilteredParams, positive
from indexes.base import IndexConfig

_DEFAULT_EF_CONSTRUCTION = 200
# Upper bounds of the build parameters: hnswlib calls 2..100 the useful range of M
# (level 0 keeps 2M links per vector, so memory grows with it); past a few
# thousand, ef_construction only slows the build.
MAX_M = 128
MAX_EF_CONSTRUCTION = 4096
_TRAVERSE = ("auto", "float32", "sq8")


@dataclass(frozen=True)
class HNSWConfig(IndexConfig):
    """Build parameters of :class:`HNSW`.

    Attributes:
        m: the paper's ``M``: links per insertion and the upper-level degree cap (>= 2).
        ef_construction: candidate-list size while inserting (higher: better graph, slower build).
    """

    pattern: ClassVar[re.Pattern[str]] = re.compile(r"HNSW(\d+)(?:,ef_construction=(\d+))?")
    example: ClassVar[str] = "HNSW32"

    m: int = 32
    ef_construction: int = _DEFAULT_EF_CONSTRUCTION

    def __post_init__(self) -> None:
        positive("HNSW M", self.m, minimum=2, maximum=MAX_M)
        positive("ef_construction", self.ef_construction, maximum=MAX_EF_CONSTRUCTION)

    @property
    def M(self) -> int:  # noqa: N802  (the paper's name)
        """Links per insertion and the upper-level degree cap."""
        return self.m

    @property
    def max_degree(self) -> int:
        """``Mmax0 = 2M``: the most links per node on level 0."""
        return 2 * self.m

    @classmethod
    def from_match(cls, match: re.Match[str]) -> HNSWConfig:
        efc = match.group(2)
        return cls(int(match.group(1)), int(efc) if efc else _DEFAULT_EF_CONSTRUCTION)

    def spec(self) -> str:
        extra = "" if self.ef_construction == _DEFAULT_EF_CONSTRUCTION else f",ef_construction={self.ef_construction}"
        return f"HNSW{self.m}{extra}"


@dataclass(frozen=True)
class HNSWParams(FilteredParams):
    """Attributes:
    ef_search: candidate-list size of the level-0 search (raised to k): higher
        means better recall and slower queries.
    traverse: what an unfiltered search scores while walking level 0: ``"float32"``
        the stored vectors; ``"sq8"`` their 8-bit codes (4x fewer bytes read), the
        ``ef`` rows found then re-ranked with the float32 vectors, so scores stay
        exact; ``"auto"`` (default) ``"sq8"`` once the vectors reach 64 MiB, where
        reading them from memory bounds a search, else ``"float32"``. Filtered
        searches (and those of an index with deletions) walk on float32.
    """

    ef_search: int = 64
    traverse: str = "auto"

    def __post_init__(self) -> None:
        super().__post_init__()
        positive("ef_search", self.ef_search)
        if self.traverse not in _TRAVERSE:
            raise ConfigError(f"traverse must be one of {', '.join(_TRAVERSE)}, got {self.traverse!r}")
