"""How a benchmark point is timed: the queries searched over and over past a floor, a few times, the median kept.

One pass over the smoke set's 100 queries lasts a millisecond or two for a fast
index, so a pass timed once measures the scheduler as much as the index: one smoke
run gave our HNSW32 1,756 queries/s at ef=64 and 4,875 at ef=256 (a larger ``ef``
can only be slower), and hnswlib ahead of ours at every point, where the held-out
comparison gives ours 1.08x hnswlib. A :class:`Timing` repeats the passes until
their search time reaches ``min_seconds`` (a run), does ``repeats`` runs, and
reports their median: a burst of other load slows one run, not the median.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

from core.errors import ConfigError

STATISTICS = ("median", "best")


@dataclass(frozen=True)
class Timing:
    """How each point is measured.

    Attributes:
        min_seconds: search time of one run: the passes over the queries repeat until they
            have taken this long (0: one pass per run).
        repeats: runs per point.
        statistic: ``"median"`` of the runs' queries/s, or ``"best"`` (the fastest run:
            what the scale curve reports, one pass per run).
    """

    min_seconds: float = 0.5
    repeats: int = 3
    statistic: str = "median"

    def __post_init__(self) -> None:
        if not (isinstance(self.repeats, int) and self.repeats >= 1):
            raise ConfigError(f"repeats must be a whole number of runs >= 1, got {self.repeats!r}")
        if not self.min_seconds >= 0:
            raise ConfigError(f"min_seconds must be >= 0 (e.g. 0.5), got {self.min_seconds!r}")
        if self.statistic not in STATISTICS:
            raise ConfigError(f"unknown statistic {self.statistic!r}; use one of {', '.join(STATISTICS)}")

    def rates(self, queries: int, one_pass: Callable[[], float]) -> list[float]:
        """Queries/s of each of ``repeats`` runs.

        Args:
            queries: how many queries one pass searches.
            one_pass: searches them once and returns the seconds its search calls took
                (the caller's own bookkeeping between calls is not counted).
        """
        out = []
        for _ in range(self.repeats):
            passes, seconds = 0, 0.0
            while passes == 0 or seconds < self.min_seconds:
                seconds += max(one_pass(), 1e-9)  # a pass too quick for the clock still ends the loop
                passes += 1
            out.append(queries * passes / seconds)
        return out

    def pick(self, rates: list[float]) -> float:
        """The reported queries/s of a point's runs."""
        return max(rates) if self.statistic == "best" else statistics.median(rates)

    def describe(self, cores: int, cpu: str) -> str:
        """One sentence on how the points were measured, for the summary and the web page."""
        floor = f"for at least {self.min_seconds:g} s of search time" if self.min_seconds else "once"
        kept = "the median" if self.statistic == "median" else "the fastest"
        return (
            f"Each point searches the queries over and over {floor}, {self.repeats} times, and reports "
            f"{kept} of the {self.repeats} runs' queries/s; single mode sends one query per call on one "
            f"thread, batch mode all queries in one call on {cores} threads; CPU: {cpu}, {cores} cores."
        )

    def as_dict(self) -> dict:
        return {"min_seconds": self.min_seconds, "repeats": self.repeats, "statistic": self.statistic}


# The defaults of a full run and of a smoke run (which must finish in about a minute in CI).
FULL = Timing(min_seconds=0.5, repeats=3)
SMOKE = Timing(min_seconds=0.2, repeats=3)
