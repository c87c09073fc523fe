"""Generator benchmark: our decoder beside llama.cpp on the same GGUF, quiet, under load and on a short prompt.

Modes:

* ``quiet``: a ~330-token RAG chat prompt, nothing else running.
* ``loaded``: the same while one busy process spins on the last CPU (what a
  neighbour, or an ingest in another process, does to a shared machine).
* ``ingest``: the quiet prompt while a thread of the same process embeds
  passages through the ingest path, as the server does when a document
  arrives during a question.
* ``short``: a 38-token prompt ("Write a long story about a dragon."): prefill
  of short prompts, and speculation on a text that copies little.

Each engine runs in a fresh process (``--worker``) so that load time and
memory are its own; engines alternate within a round so that noise hits all
of them alike; the best run of each (mode, engine) is reported, with the
median beside it. ``--isa avx2`` measures as an AVX2-only CPU would: our
kernels are compiled for Haswell (``NUMBA_CPU_NAME=haswell``) and llama.cpp
is taken from ``--llama-cpp-path``, a build with AVX-512 off.

    python -m benchmarks.generator [--engines torch-int4,llama-cpp] [--modes quiet,loaded,short] [--smoke]
    python -m benchmarks.generator --model random-qwen2.5-0.5b-q4_k_m --modes quiet,loaded --prompt-kind medium --raw

``--model`` takes another GGUF, or builds a random model of Qwen2.5-0.5B's shape quantized to Q4_K_M by
llama.cpp (:mod:`benchmarks.random_model`); ``--raw`` times the engine loop only (a random model's text
means nothing, so neither does its product path or perplexity).

Writes ``--out``/results.jsonl (one row per engine, mode and round) and summary.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

RANDOM_QWEN = "random-qwen2.5-0.5b-q4_k_m"
MODES = {"quiet": ("rag", None), "loaded": ("rag", "busy"), "ingest": ("rag", "ingest"), "short": ("short", None)}
# numba takes the host's features unless told otherwise, even with another CPU name: list Haswell's
HASWELL_FEATURES = (
    "+64bit,+avx,+avx2,+bmi,+bmi2,+cmov,+cx16,+cx8,+f16c,+fma,+fsgsbase,+fxsr,+invpcid,+lzcnt,+mmx,+movbe,"
    "+pclmul,+popcnt,+rdrnd,+sahf,+sse,+sse2,+sse3,+sse4.1,+sse4.2,+ssse3,+xsave,+xsaveopt"
)
FLAGS = ("avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8")


def cpu_info() -> dict:
    """The CPU's model name, count and the SIMD flags that matter to the kernels."""
    model, flags = platform.processor() or "unknown", set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name") and model in ("unknown", "x86_64", ""):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    return {"model": model, "cpus": os.cpu_count(), "flags": [f for f in FLAGS if f in flags]}


@contextmanager
def busy_neighbour(active: bool):
    """One process spinning on the last CPU while the block runs."""
    if not active:
        yield
        return
    cpu = max(os.sched_getaffinity(0))
    spin = f"import os\nos.sched_setaffinity(0, {{{cpu}}})\nwhile True:\n    pass\n"
    proc = subprocess.Popen([sys.executable, "-c", spin])
    try:
        yield
    finally:
        proc.kill()
        proc.wait()


def model_file(model: str, cache: Path) -> str | None:
    """The GGUF path that ``--model`` names (None: the shipped one), building the random model when asked."""
    if model == "shipped":
        return None
    if model == RANDOM_QWEN:
        from benchmarks.random_model import q4_k_m_model

        return str(q4_k_m_model(cache))
    if not Path(model).is_file():
        raise SystemExit(f"--model {model!r} is neither 'shipped', '{RANDOM_QWEN}' nor a .gguf file")
    return model


def model_facts(path: str | None) -> dict:
    """Name, file size and tensor types of the benchmarked file, and its KV cache bytes per position (float16)."""
    from rag.model.config import LlamaConfig
    from rag.model.gguf_file import GGUFFile, default_gguf_path

    path = path or default_gguf_path()
    with GGUFFile(path) as f:
        config = LlamaConfig.from_gguf(f.metadata, set(f.tensors))
        types = sorted({t.qtype.name for t in f.tensors.values()})
    return {
        "name": Path(path).name,
        "arch": config.arch,
        "file_mb": os.path.getsize(path) / 2**20,
        "tensor_types": types,
        "kv_bytes_per_position_f16": 2 * 2 * config.n_layers * config.kv_dim,
    }


def worker_env(engine: str, isa: str, llama_cpp_path: str | None) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if isa == "avx2" and engine.startswith("torch"):  # AVX2 + FMA, no AVX-512: what an AVX2-only CPU runs
        env["NUMBA_CPU_NAME"], env["NUMBA_CPU_FEATURES"] = "haswell", HASWELL_FEATURES
    if engine == "llama-cpp" and llama_cpp_path:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (llama_cpp_path, env.get("PYTHONPATH")) if p)
    return env


def summarize(rows: list[dict], steps: int) -> dict:
    """(mode, engine) -> best and median tokens/s, load, memory; ratios to llama.cpp in the same mode."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["mode"], r["engine"]), []).append(r)
    out: dict[str, dict] = {}
    for (mode, engine), rs in groups.items():
        pre = [s for r in rs for s in r["prefill_s"]]
        dec = [s for r in rs for s in r["decode_s"]]
        b = {k: v for k, v in rs[0].items() if not isinstance(v, list)}
        b.update(
            runs=len(dec),
            prefill_tok_s=b["prompt_tokens"] / min(pre),
            prefill_tok_s_median=b["prompt_tokens"] / statistics.median(pre),
            decode_tok_s=steps / min(dec),
            decode_tok_s_median=steps / statistics.median(dec),
            first_prefill_s=min(r["first_prefill_s"] for r in rs),
            load_s=min(r["load_s"] for r in rs),
            peak_rss_mb=min(r["peak_rss_mb"] for r in rs),
        )
        for key in ("product_decode_tok_s_plain", "product_decode_tok_s_speculative"):
            if key in rs[0]:
                b[key] = max(r[key] for r in rs)
        out[f"{mode}/{engine}"] = b
    for key, b in out.items():
        mode, engine = key.split("/", 1)
        ref = out.get(f"{mode}/llama-cpp")
        if ref:
            b["decode_vs_llama_cpp"] = b["decode_tok_s"] / ref["decode_tok_s"]
            b["prefill_vs_llama_cpp"] = b["prefill_tok_s"] / ref["prefill_tok_s"]
        quiet = out.get(f"quiet/{engine}")
        if mode in ("loaded", "ingest") and quiet:
            b["decode_kept_of_quiet"] = b["decode_tok_s"] / quiet["decode_tok_s"]
    return out


def table(summary: dict) -> str:
    lines = [
        "| mode | engine | decode tok/s (best, median) | prefill tok/s | decode, prefill vs llama.cpp "
        "| kept under load | product path tok/s (plain / speculative) | first prefill s | RSS MB (load / peak) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, b in summary.items():
        mode, engine = key.split("/", 1)
        ratio = (
            f"{b['decode_vs_llama_cpp']:.2f}x, {b['prefill_vs_llama_cpp']:.2f}x" if "decode_vs_llama_cpp" in b else ""
        )
        kept = f"{b['decode_kept_of_quiet']:.2f}x" if "decode_kept_of_quiet" in b else ""
        product = (
            f"{b['product_decode_tok_s_plain']:.1f} / {b['product_decode_tok_s_speculative']:.1f}"
            f" (acceptance {b['speculative_acceptance']:.2f})"
            if "product_decode_tok_s_plain" in b
            else ""
        )
        lines.append(
            f"| {mode} | {engine} | {b['decode_tok_s']:.1f}, {b['decode_tok_s_median']:.1f} | {b['prefill_tok_s']:.0f} "
            f"| {ratio} | {kept} | {product} | {b['first_prefill_s']:.3f} "
            f"| {b['after_load_rss_mb']:.0f} / {b['peak_rss_mb']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engines", default="torch-int4,llama-cpp")
    ap.add_argument("--modes", default="quiet,loaded,ingest,short")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=128, help="greedy decode steps per run")
    ap.add_argument("--repeats", type=int, default=3, help="runs per engine process")
    ap.add_argument("--rounds", type=int, default=2, help="processes per engine and mode, alternating engines")
    ap.add_argument("--isa", choices=("native", "avx2"), default="native")
    ap.add_argument("--llama-cpp-path", help="a directory holding another llama_cpp package (e.g. an AVX2 build)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/generator"))
    ap.add_argument("--smoke", action="store_true", help="a few seconds: 16 steps, 1 repeat, 1 round")
    ap.add_argument(
        "--model",
        default="shipped",
        help=f"'shipped' (SmolLM2-135M Q4_1), '{RANDOM_QWEN}' (Qwen2.5-0.5B's shape, random weights, Q4_K_M by "
        "llama.cpp, built once into --cache) or a .gguf path",
    )
    ap.add_argument("--cache", type=Path, default=Path("benchmarks/results/cache"), help="where a built model is kept")
    ap.add_argument("--prompt-kind", choices=("rag", "medium", "short"), help="one prompt for every mode")
    ap.add_argument("--raw", action="store_true", help="the engine loop only: no product path, no perplexity")
    ap.add_argument("--sweep", help="a prefill sweep instead: prompts such as 8,16,32,64,medium")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--model-path", help=argparse.SUPPRESS)
    ap.add_argument("--prompt", default="rag", help=argparse.SUPPRESS)
    ap.add_argument("--perplexity", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--ingest", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.smoke:
        args.steps, args.repeats, args.rounds = 16, 1, 1
    if args.worker:
        from benchmarks import generator_workers as w

        if args.sweep:
            row = w.prefill_sweep(args.worker, args.threads, args.sweep.split(","), args.repeats, args.model_path)
            print(json.dumps({"engine": args.worker, **row}))
            return 0
        text = w.ppl_text() if args.perplexity else None
        path = args.model_path
        with w.background_ingest(args.ingest) as ingested:
            if args.worker == "llama-cpp":
                row = w.llama_worker(args.threads, args.steps, args.repeats, args.prompt, text, path)
            else:
                quant = args.worker.removeprefix("torch-")
                row = w.torch_worker(
                    quant, args.threads, args.steps, args.repeats, args.prompt, text, path, not args.raw
                )
        if args.ingest:
            row["ingested_passages"] = ingested[0]
        print(json.dumps({"engine": args.worker, **row}))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    model_path = model_file(args.model, args.cache)
    if args.sweep:
        from benchmarks.generator_sweep import run_sweep, sweep_table

        print(sweep_table(run_sweep(args, model_path)["results"]))
        return 0
    rows = []
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for round_no in range(args.rounds):
        for mode in modes:
            prompt, load = MODES[mode]
            prompt = args.prompt_kind or prompt
            for engine in engines:
                cmd = [sys.executable, "-m", "benchmarks.generator", "--worker", engine, "--prompt", prompt]
                cmd += ["--threads", str(args.threads), "--steps", str(args.steps), "--repeats", str(args.repeats)]
                cmd += ["--model-path", model_path] if model_path else []
                cmd += ["--raw"] if args.raw else []
                if mode == "quiet" and not args.raw:
                    cmd.append("--perplexity")
                if load == "ingest":
                    cmd.append("--ingest")
                with busy_neighbour(load == "busy"):
                    env = worker_env(engine, args.isa, args.llama_cpp_path)
                    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
                if done.returncode != 0:
                    print(f"{mode}/{engine}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
                    continue
                row = json.loads(done.stdout.strip().splitlines()[-1])
                row.update(mode=mode, round=round_no, threads=args.threads, steps=args.steps, isa=args.isa)
                row.update(model=args.model, prompt=prompt)
                rows.append(row)
                with open(args.out / "results.jsonl", "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(row) + "\n")
    summary = {"cpu": {**cpu_info(), "isa": args.isa}, "model": model_facts(model_path), "command": sys.argv}
    summary["results"] = summarize(rows, args.steps)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    if summary["results"]:
        from benchmarks.plot import plot_generator

        cpu = summary["cpu"]
        title = f"{summary['model']['name']}, {args.threads} threads, {cpu['model']} ({args.isa})"
        plot_generator(summary["results"], args.out / "plot", title)
    print(
        f"CPU: {summary['cpu']['model']}, {summary['cpu']['cpus']} CPUs, flags {' '.join(summary['cpu']['flags'])}, "
        f"kernels for {args.isa}"
    )
    print(table(summary["results"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
