"""How the ANN benchmark times a point: passes repeated past a floor, a few runs, the median kept, and said so."""

from __future__ import annotations

import json

import pytest

from core.errors import ConfigError
from rag.bench.ann import run
from rag.bench.timing import Timing


def passes(costs: list[float]):
    """A fake pass over the queries whose search time is the next of ``costs``; records each call."""
    calls: list[float] = []
    it = iter(costs)

    def one_pass() -> float:
        calls.append(next(it))
        return calls[-1]

    return one_pass, calls


def test_each_run_repeats_the_passes_until_the_floor_and_the_median_run_is_reported():
    # run 1: 0.1 + 0.1 + 0.1 s (the floor is reached on the third pass) = 30 queries in 0.3 s
    # run 2: one slow pass of 0.5 s = 10 queries in 0.5 s; run 3: 0.2 + 0.2 = 20 queries in 0.4 s
    one_pass, calls = passes([0.1, 0.1, 0.1, 0.5, 0.2, 0.2, 99.0])
    timing = Timing(min_seconds=0.25, repeats=3)
    rates = timing.rates(10, one_pass)
    assert calls == [0.1, 0.1, 0.1, 0.5, 0.2, 0.2]  # no pass after the third run's floor
    assert rates == pytest.approx([100.0, 20.0, 50.0])
    assert timing.pick(rates) == pytest.approx(50.0)  # the median, not the best (100) nor the last
    assert Timing(min_seconds=0.25, repeats=3, statistic="best").pick(rates) == pytest.approx(100.0)


def test_without_a_floor_each_run_is_one_pass_and_a_pass_too_quick_to_time_still_ends():
    one_pass, calls = passes([0.0, 0.0])
    assert len(Timing(min_seconds=0.0, repeats=2).rates(5, one_pass)) == 2 and len(calls) == 2
    one_pass, calls = passes([0.0] * 1000)
    Timing(min_seconds=1e-7, repeats=1).rates(5, one_pass)
    assert 1 < len(calls) < 1000


@pytest.mark.parametrize("bad", [dict(repeats=0), dict(min_seconds=-1.0), dict(statistic="mean")])
def test_bad_timing_is_refused(bad):
    with pytest.raises(ConfigError):
        Timing(**bad)


def test_the_summary_says_how_the_points_were_timed_and_rows_keep_each_run(tmp_path):
    timing = Timing(min_seconds=0.01, repeats=3)
    summary = run("synthetic-300-d8", ["Flat"], [], tmp_path, smoke=True, modes=("single", "batch"), timing=timing)
    saved = json.loads((tmp_path / "summary.json").read_text())
    threads = saved["timing"].pop("threads")
    assert saved["timing"] == {"min_seconds": 0.01, "repeats": 3, "statistic": "median"} and threads["single"] == 1
    assert "at least 0.01 s" in saved["measured"] and "median of the 3 runs" in saved["measured"]
    assert saved["machine"]["cpu"] in saved["measured"] and summary["measured"] == saved["measured"]
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert {r["mode"] for r in rows} == {"single", "batch"}
    for r in rows:
        assert len(r["qps_runs"]) == 3 and r["qps"] == sorted(r["qps_runs"])[1]
        assert r["recall@10"] == 1.0  # Flat is exact: timing many passes kept the ids of a whole pass
