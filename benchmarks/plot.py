"""Plots of the scripts here: the generator's tokens/s and memory, and the append curve (the ANN plot is
:func:`rag.bench.plot.plot_runs`, which the product draws too)."""

from __future__ import annotations

from pathlib import Path

from rag.bench.plot import save_figure


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
    return save_figure(fig, out_stem)


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
    return save_figure(fig, out_stem)
