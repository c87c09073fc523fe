"""Shared by the kernel benchmarks (``q8_kernel_speed``, ``nibble_kernel_speed``): kernels timed in turn in one
process, and the summary file with the load average around the run."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rag.model.q8_kernels import has_vnni


def alternate(
    runners: dict[str, tuple[Callable[[], object], np.ndarray]],
    rows: int,
    cols: int,
    repeats: int,
    agree: dict[str, float],
) -> dict:
    """Each runner once per repeat, in turn; G weights/s (rows x cols per call), best and median."""
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(repeats):
        for name, (run, _) in runners.items():
            t0 = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t0)
    rate = {name: rows * cols / np.array(t) / 1e9 for name, t in times.items()}
    return {
        "shape": [rows, cols],
        "best": {name: round(float(r.max()), 2) for name, r in rate.items()},
        "median": {name: round(float(np.median(r)), 2) for name, r in rate.items()},
        "max_diff_ulps_of_max": agree,
    }


def write_summary(out: str, measure: Callable[[], list[dict]]) -> None:
    """Run ``measure`` between two readings of the load average and write the summary to ``out``."""
    load = Path("/proc/loadavg").read_text().split()[:3]
    summary = {"threads": 1, "vnni": has_vnni(), "loadavg_before": load, "results": measure()}
    summary["loadavg_after"] = Path("/proc/loadavg").read_text().split()[:3]
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
