"""Recall/throughput plots in the style of ann-benchmarks: recall@10 on x, queries/s on a log y axis."""

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
    return _save(fig, out_stem)


def plot_generator(summary: dict[str, dict], out_stem: Path, title: str) -> list[Path]:
    """Write ``out_stem``.png and .svg: decode and prefill tokens/s, and peak RSS, one bar per engine."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary)
    panels = [
        ("decode tokens/s", "decode_tok_s"),
        ("prefill tokens/s", "prefill_tok_s"),
        ("peak RSS (MB)", "peak_rss_mb"),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(11, 4))
    for ax, (label, key) in zip(axes, panels):
        values = [summary[n].get(key, 0.0) for n in names]
        colors = ["tab:gray" if n.endswith("llama-cpp") else "tab:blue" for n in names]
        bars = ax.bar(names, values, color=colors)
        ax.bar_label(bars, fmt="%.0f", fontsize=8)
        ax.set_title(label)
        ax.tick_params(axis="x", labelrotation=20, labelsize=8)
        ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle(title)
    return _save(fig, out_stem)


def _save(fig, out_stem: Path) -> list[Path]:
    """Write the figure as ``out_stem``.png and .svg and free it; returns the paths."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    paths = [out_stem.with_suffix(".png"), out_stem.with_suffix(".svg")]
    for p in paths:
        fig.savefig(p, dpi=120)
    plt.close(fig)
    return paths


def plot_append_curve(rows: list[dict], out_stem: Path, title: str) -> list[Path]:
    """Milliseconds to append one document against the collection's size, log-log, one line per spec and label."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in rows:
        xs = [max(n, 1000) for n in r["n"]]  # the empty collection drawn at 1,000
        style = "--" if r["label"] == "before" else "-"
        ax.plot(xs, r["append_ms"], style, marker="o", label=f"{r['spec']} {r['label']}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("vectors in the collection (0 drawn at 1k)")
    ax.set_ylabel("ms to append 20 vectors (median)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, out_stem)
