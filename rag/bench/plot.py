"""Recall/throughput plots in the style of ann-benchmarks: recall@10 on x, queries/s on a log y axis.

matplotlib (the ``bench`` extra) is imported inside the functions that draw, so importing this module costs nothing.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path


def pareto(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points not beaten on both recall and speed, by increasing recall."""
    best: list[tuple[float, float]] = []
    for recall, qps in sorted(points, key=lambda p: (-p[0], -p[1])):
        if not best or qps > best[-1][1]:
            best.append((recall, qps))
    return sorted(best)


def plot_runs(rows: list[dict], out_stem: Path, title: str, mode: str = "single") -> list[Path]:
    """Write ``out_stem``.png and .svg with one Pareto line per index; returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for r in rows:
        if r.get("mode") == mode and r.get("qps"):
            lines[r["index"]].append((r["recall@10"], r["qps"]))
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for label, pts in sorted(lines.items()):
        front = pareto(pts)
        style = "-" if not label.startswith(("faiss", "hnswlib")) else "--"
        ax.plot([p[0] for p in front], [p[1] for p in front], style, marker="o", markersize=3, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("recall@10")
    ax.set_ylabel("queries per second (log)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    return save_figure(fig, out_stem)


def save_figure(fig, out_stem: Path) -> list[Path]:
    """Write the figure as ``out_stem``.png and .svg and free it; returns the paths."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    paths = [out_stem.with_suffix(".png"), out_stem.with_suffix(".svg")]
    for p in paths:
        fig.savefig(p, dpi=120)
    plt.close(fig)
    return paths
