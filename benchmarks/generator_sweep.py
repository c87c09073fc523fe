"""The generator benchmark's prefill sweep: prompts of several lengths, ours beside llama.cpp, engines alternating.

    python -m benchmarks.generator --sweep 8,16,32,64,medium --model shipped --threads 1 --modes quiet,loaded

Each entry of ``--sweep`` is a prompt: ``N`` the first N tokens of the "rag" chat prompt, a prompt kind
("medium": the ~160-token chat) its whole prompt. Per round and mode, each engine runs once in a fresh
process (:func:`benchmarks.generator_workers.prefill_sweep`), which times every prompt ``--repeats``
times, the prompts in turn. ``loaded`` runs with one process spinning on the last CPU. The best run of
each (mode, prompt, engine) is reported, with the median beside it, and our rate over llama.cpp's.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

from benchmarks.generator import MODES, busy_neighbour, cpu_info, model_facts, worker_env


def run_sweep(args, model_path: str | None) -> dict:  # noqa: ANN001
    """Run the sweep's workers (rounds x modes x engines), write results.jsonl and summary.json; the summary."""
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip() in ("quiet", "loaded")]
    rows = []
    for round_no in range(args.rounds):
        for mode in modes:
            for engine in engines if round_no % 2 == 0 else engines[::-1]:
                cmd = [sys.executable, "-m", "benchmarks.generator", "--worker", engine, "--sweep", args.sweep]
                cmd += ["--threads", str(args.threads), "--repeats", str(args.repeats)]
                cmd += ["--model-path", model_path] if model_path else []
                with busy_neighbour(MODES[mode][1] == "busy"):
                    done = subprocess.run(cmd, capture_output=True, text=True, env=worker_env(engine, args.isa, None))
                if done.returncode != 0:
                    print(f"sweep {mode}/{engine}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
                    continue
                row = json.loads(done.stdout.strip().splitlines()[-1])
                row.update(mode=mode, round=round_no, threads=args.threads, model=args.model, loadavg=_loadavg())
                rows.append(row)
                with open(args.out / "sweep.jsonl", "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(row) + "\n")
    summary = {"cpu": cpu_info(), "model": model_facts(model_path), "command": sys.argv, "threads": args.threads}
    summary["results"] = summarize_sweep(rows)
    (args.out / "sweep_summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _loadavg() -> list[float]:
    try:
        return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


def summarize_sweep(rows: list[dict]) -> list[dict]:
    """One entry per (mode, prompt): tokens, each engine's best and median prefill tokens/s, ours over llama.cpp."""
    seconds: dict[tuple[str, str], dict[str, list[float]]] = {}
    tokens: dict[tuple[str, str], int] = {}
    for r in rows:
        for kind, s in r["sweep"].items():
            seconds.setdefault((r["mode"], kind), {}).setdefault(r["engine"], []).extend(s["prefill_s"])
            tokens[(r["mode"], kind)] = s["tokens"]
    out = []
    for (mode, kind), by_engine in seconds.items():
        n = tokens[(mode, kind)]
        entry = {"mode": mode, "prompt": kind, "tokens": n}
        for engine, s in by_engine.items():
            entry[engine] = {"tok_s": n / min(s), "tok_s_median": n / statistics.median(s), "runs": len(s)}
        ours = [e for e in by_engine if e != "llama-cpp"]
        if "llama-cpp" in by_engine and ours:
            entry["ours_vs_llama_cpp"] = entry[ours[0]]["tok_s"] / entry["llama-cpp"]["tok_s"]
        out.append(entry)
    return out


def sweep_table(results: list[dict]) -> str:
    lines = [
        "| mode | prompt | tokens | ours tok/s (best, median) | llama.cpp tok/s (best, median) | ours / llama.cpp |",
        "|---|---|---|---|---|---|",
    ]
    for e in results:
        ours = next((e[k] for k in e if k.startswith("torch")), None)
        ref = e.get("llama-cpp")
        cell = [f"{x['tok_s']:.0f}, {x['tok_s_median']:.0f}" if x else "" for x in (ours, ref)]
        ratio = f"{e['ours_vs_llama_cpp']:.2f}x" if "ours_vs_llama_cpp" in e else ""
        lines.append(f"| {e['mode']} | {e['prompt']} | {e['tokens']} | {cell[0]} | {cell[1]} | {ratio} |")
    return "\n".join(lines)
