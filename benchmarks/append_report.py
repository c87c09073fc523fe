"""The append curve's summary: the median over rounds of each size's median, as JSON and a plot."""

from __future__ import annotations

import json
import statistics
from pathlib import Path


def summarize(paths: list[Path], out_stem: Path) -> dict:
    """Median over rounds of each (spec, label, n) median, from result files; writes the JSON and the plot."""
    from benchmarks.plot import plot_append_curve

    rows = [row for path in paths for row in json.loads(path.read_text())]
    cells: dict[tuple, list] = {}
    for row in rows:
        cells.setdefault((row["spec"], row["label"], row["n"]), []).append(row)
    table = []
    for (spec, label, n), got in sorted(cells.items()):
        table.append({
            "spec": spec, "label": label, "n": n, "rounds": len(got),
            "append_ms_median": round(statistics.median(r["append_ms_median"] for r in got), 2),
            "append_ms_rounds": [r["append_ms_median"] for r in got],
            "search_ms_p50_before": _median([r["search_ms_p50_before"] for r in got]),
            "search_ms_p50_after": _median([r["search_ms_p50_after"] for r in got]),
            "runs_after": max(r.get("runs_after", 1) for r in got),
            "bytes_written_median": _median([r.get("bytes_written_median") for r in got]),
        })  # fmt: skip
    lines = []
    for spec, label in sorted({(t["spec"], t["label"]) for t in table}):
        mine = [t for t in table if t["spec"] == spec and t["label"] == label]
        lines.append({"spec": spec, "label": label, "n": [t["n"] for t in mine],
                      "append_ms": [t["append_ms_median"] for t in mine]})  # fmt: skip
    plot_append_curve(lines, out_stem, "Appending one 20-chunk document (384-d, 2 cores)")
    summary = {"sources": [str(p) for p in paths], "table": table}
    out_stem.with_name(out_stem.name + "-summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def _median(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None
