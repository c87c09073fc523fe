"""Summarising the runs: a row per index, dimension and N, the markdown table and the four-panel plot."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

from benchmarks.scale_curve.config import COLORS, FALLBACK, HIGH, LABELS, LOW_KEY, QPS_KEY, TARGET


def pareto_sweep(runs: list[dict]) -> list[tuple[float, float, str, float]]:
    """(recall@10, qps, param=value, p50 ms) of the sweep points not beaten on both, by increasing recall."""
    pts = sorted(
        ((r["recall@10"], r["qps"], f"{r['param']}={r['value']}", r["p50_ms"]) for r in runs if r.get("qps")),
        key=lambda p: (-p[0], -p[1]),
    )
    front: list[tuple[float, float, str, float]] = []
    for p in pts:
        if not front or p[1] > front[-1][1]:
            front.append(p)
    return sorted(front)


def qps_at(runs: list[dict], target: float) -> dict:
    """QPS at a recall@10 target: the fastest measured point reaching it, and a log-linear interpolation.

    The interpolation runs along the Pareto front between the last point below the
    target and the first at or above it (log QPS linear in recall); where the cheapest
    point already reaches the target it is that point's QPS (no extrapolation).
    """
    front = pareto_sweep(runs)
    ok = [p for p in front if p[0] >= target]
    if not ok:
        return {"qps_measured": None, "param": None, "qps_interp": None, "p50_us": None}
    first = max(ok, key=lambda p: p[1])
    below = [p for p in front if p[0] < target and p[1] > first[1]]
    interp = first[1]
    if below:
        lo = min(below, key=lambda p: target - p[0])
        t = (target - lo[0]) / (first[0] - lo[0])
        interp = math.exp(math.log(lo[1]) + t * (math.log(first[1]) - math.log(lo[1])))
    return {
        "qps_measured": first[1],
        "param": first[2],
        "qps_interp": round(interp, 1),
        "p50_us": round(first[3] * 1000, 1),
    }


def collect(results: Path) -> list[dict]:
    """One row per (series, dim, n) from every ``results.jsonl`` under ``results``."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for path in sorted(results.glob("*/*/results.jsonl")):
        for line in path.open(encoding="utf-8"):
            r = json.loads(line)
            if r.get("mode") == "single":
                groups[(r["series"], r["dim"], r["n"])].append(r)
    rows = []
    for (series, dim, n), runs in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0], kv[0][2])):
        r0 = runs[0]
        at = qps_at(runs, TARGET)
        low = qps_at(runs, FALLBACK)
        high = qps_at(runs, HIGH)
        rows.append(
            {
                "series": series,
                "label": LABELS.get(series, series),
                "index": r0["index"],
                "dim": dim,
                "n": n,
                "build_s": r0["build_s"],
                "train_s": r0.get("train_s"),
                "add_s": r0.get("add_s"),
                "inserts_per_s": round(n / r0["add_s"], 1) if r0.get("add_s") else None,
                "bytes_per_vector": r0["bytes_per_vector"],
                "build_peak_rss_mb": r0["build_peak_rss_mb"],
                "rss_after_build_mb": r0.get("rss_after_build_mb"),
                "process_peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
                "open_ms": r0["open_ms"],
                "open_mode": r0.get("open_mode"),
                f"qps@{TARGET}": at["qps_measured"],
                f"param@{TARGET}": at["param"],
                f"qps@{TARGET}_interp": at["qps_interp"],
                f"p50_us@{TARGET}": at["p50_us"],
                f"qps@{HIGH}": high["qps_measured"],
                f"param@{HIGH}": high["param"],
                f"qps@{HIGH}_interp": high["qps_interp"],
                f"p50_us@{HIGH}": high["p50_us"],
                f"qps@{FALLBACK}": low["qps_measured"],
                f"param@{FALLBACK}": low["param"],
                f"qps@{FALLBACK}_interp": low["qps_interp"],
                "max_recall@10": max(r["recall@10"] for r in runs),
                "loadavg1": round(max(r.get("loadavg1", 0.0) for r in runs), 2),
            }
        )
    return rows


def markdown(rows: list[dict]) -> str:
    head = (
        "| index | d | N | build s (train + add) | bytes/vec | build peak RSS MB | open ms | "
        f"QPS @R{TARGET} measured (param) | p50 µs there | QPS @R{TARGET} interp. | QPS @R{HIGH} interp. | "
        f"QPS @R{FALLBACK} interp. | max R@10 |"
    )
    lines = [head, "|" + "---|" * 13]
    for r in rows:
        split = f" ({r['train_s']:.1f} + {r['add_s']:.1f})" if r.get("train_s") else ""
        qps = r[f"qps@{TARGET}"]
        lines.append(
            "| "
            + " | ".join(
                [
                    r["label"] + (f" [{r['index']}]" if "IVFPQ" in r["series"] else ""),
                    str(r["dim"]),
                    f"{r['n']:,}",
                    f"{r['build_s']:.1f}{split}",
                    f"{r['bytes_per_vector']:.0f}",
                    f"{r['build_peak_rss_mb']:.0f}",
                    f"{r['open_ms']:.2f}",
                    f"{qps:.0f} ({r[f'param@{TARGET}']})" if qps else "not reached",
                    f"{r[f'p50_us@{TARGET}']:.0f}" if qps else "-",
                    f"{r[f'qps@{TARGET}_interp']:.0f}" if qps else "-",
                    f"{r[f'qps@{HIGH}_interp']:.0f}" if r[f"qps@{HIGH}_interp"] else "-",
                    f"{r[f'qps@{FALLBACK}_interp']:.0f}" if r[f"qps@{FALLBACK}_interp"] else "-",
                    f"{r['max_recall@10']:.3f}",
                ]
            )
            + " |"
        )
    return "\n".join(lines)


def plot(rows: list[dict], out_stem: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        ("build time (s)", "build_s"),
        ("bytes per vector", "bytes_per_vector"),
        ("peak RSS during build, MB (above the data)", "build_peak_rss_mb"),
        (f"queries/s at recall@10 {TARGET}, 1 thread (hollow: at {FALLBACK})", QPS_KEY),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    series = defaultdict(list)
    for r in rows:
        series[(r["series"], r["dim"])].append(r)
    for ax, (title, key) in zip(axes.flat, panels):
        for (name, dim), pts in sorted(series.items()):
            pts = sorted((p for p in pts if p.get(key)), key=lambda p: p["n"])
            if not pts:
                continue
            ax.plot(
                [p["n"] for p in pts],
                [p[key] for p in pts],
                "-" if dim != 384 else "--",
                marker="o",
                markersize=4,
                color=COLORS.get(name),
                label=f"{LABELS.get(name, name)}, d={dim}",
            )
        if key == QPS_KEY:
            for (name, dim), pts in sorted(series.items()):
                low = sorted((p for p in pts if not p.get(key) and p.get(LOW_KEY)), key=lambda p: p["n"])
                if low:
                    ax.plot(
                        [p["n"] for p in low],
                        [p[LOW_KEY] for p in low],
                        "-" if dim != 384 else "--",
                        marker="o",
                        markersize=5,
                        markerfacecolor="none",
                        alpha=0.7,
                        color=COLORS.get(name),
                    )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("N (vectors)")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    for ax in axes.flat[1:]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3, fontsize=8)
    fig.suptitle("ANN scale curve: synthetic clustered Gaussian, cosine, k=10 (solid d=96, dashed d=384)")
    fig.tight_layout()
    paths = [out_stem.with_suffix(".png"), out_stem.with_suffix(".svg")]
    for path in paths:
        fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return paths


def summarise(results: Path, out: Path) -> dict:
    rows = collect(results)
    meta = {}
    for path in sorted(results.glob("*/*/summary.json")):
        s = json.loads(path.read_text())
        meta[f"{s['dataset']}/{s['series']}"] = {
            k: s[k] for k in ("repeats", "machine", "loadavg1_start", "loadavg1_end", "queries")
        }
    summary = {
        "what": "ANN scale curve, synthetic-N[-dD] (clustered Gaussian, cosine), k=10, 1 thread, 1 query per call",
        "qps_note": (
            f"qps@{TARGET}: the fastest measured sweep point with recall@10 >= {TARGET} (its param beside it); "
            f"qps@{TARGET}_interp: log-linear interpolation along the Pareto front between the bracketing points"
        ),
        "rss_note": (
            "build_peak_rss_mb: peak RSS during the build above the RSS with the dataset loaded; "
            "rss_after_build_mb: resident growth once built; process_peak_rss_mb: whole process incl. data and imports"
        ),
        "nlist_rule": "IVF4096 where N >= 39*4096, else the largest power of two <= 4*sqrt(N)",
        "rows": rows,
        "runs": meta,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{out}-summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if rows:
        plot(rows, out)
    print(markdown(rows))
    return summary
