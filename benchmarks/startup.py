"""How long a question waits for start-up: ``rag generate`` as a whole process, and a server's first question
(issue 38, item 3).

**CLI** (``--cli``): ``rag generate PROMPT --max-tokens N --json`` with our torch backend and with
``--backend llama-cpp``, started in turn (A B A B ...), each a fresh process from exec to exit: the
interpreter, the imports, loading the GGUF, the compiled kernels and the answer. Per run: wall seconds
(a monotonic clock around the child), CPU seconds (the child's user + system, from ``wait4``), and
what the child reported (its own start-up and load seconds, tokens). The ratio ours / llama.cpp is
taken pair by pair, so a machine whose load drifts moves both sides of a pair alike.

**Server** (``--server``): ``rag serve`` on a free loopback port and a fresh data directory; a few
Markdown files of the Vite docs are uploaded (``wait=true``), then the same question is asked twice
in ``--mode`` (``extract`` writes with the generator). The first question's seconds over the
second's is the start-up the first user pays. ``--settle`` seconds pass after the server answers
``/healthz`` and after the upload, as they would before a user's first question.

    python -m benchmarks.startup --label after              # both parts, 3 runs each
    python -m benchmarks.startup --cli --runs 5
    python -m benchmarks.startup --cli --threads 1          # a busy machine: llama.cpp's 2 threads crawl there
    python -m benchmarks.startup --smoke                    # 1 CLI pair, 4 tokens; no server

Medians are reported; the 1-minute load average is read before and after each part (the machine is
shared: quote ratios, not seconds). The summary is merged under ``--label`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from subprocess import PIPE

import httpx

from rag.bench.server_process import cpu_model, free_port
from rag.server_file import running_server

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO.parent / "shared" / "data" / "vite-docs" / "documents"
OUT = REPO / "benchmarks" / "results" / "startup-summary.json"
PROMPT = "What is retrieval-augmented generation? Answer in two sentences."
QUESTION = "What is new in Vite 3?"
RAG = [sys.executable, "-c", "import sys; from rag.cli import main; sys.exit(main(sys.argv[1:]))"]
START_TIMEOUT = 300.0


def generate_cmd(backend: str, prompt: str, max_tokens: int, threads: int | None) -> list[str]:
    cmd = [*RAG, "generate", prompt, "--max-tokens", str(max_tokens), "--json", "--backend", backend]
    return cmd if threads is None else [*cmd, "--threads", str(threads)]


def run_generate(backend: str, prompt: str, max_tokens: int, threads: int | None) -> dict:
    """One ``rag generate`` process: wall and CPU seconds, and the JSON it printed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(generate_cmd(backend, prompt, max_tokens, threads), cwd=REPO, stdout=PIPE, stderr=PIPE)
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # one child at a time: the difference is its own
    if proc.returncode:
        raise RuntimeError(f"rag generate --backend {backend} exited with {proc.returncode}: {err.decode()[-2000:]}")
    report = json.loads(out.decode().strip().splitlines()[-1])
    keep = ("startup_seconds", "load_seconds", "prompt_tokens", "generated_tokens", "decode_tokens_per_s", "text")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), **{k: report[k] for k in keep if k in report}}


def median(rows: list[dict], key: str) -> float:
    return round(statistics.median(r[key] for r in rows), 3)


def cli_part(runs: int, prompt: str, max_tokens: int, threads: int | None) -> dict:
    """``runs`` alternating pairs of ``rag generate`` (torch, then llama.cpp); medians and pairwise ratios."""
    load = [os.getloadavg()[0]]
    pairs = []
    for _ in range(runs):
        pairs.append({b: run_generate(b, prompt, max_tokens, threads) for b in ("torch", "llama-cpp")})
        print(json.dumps({b: {k: v for k, v in r.items() if k != "text"} for b, r in pairs[-1].items()}), flush=True)
    load.append(os.getloadavg()[0])
    ours, theirs = [p["torch"] for p in pairs], [p["llama-cpp"] for p in pairs]
    summary = {"runs": runs, "max_tokens": max_tokens, "threads": threads, "prompt": prompt, "loadavg_1m": load}
    for name, rows in (("torch", ours), ("llama_cpp", theirs)):
        summary[name] = {k: median(rows, k) for k in ("wall_s", "cpu_s", "startup_seconds", "generated_tokens")}
    summary["wall_ratio"] = round(statistics.median(a["wall_s"] / b["wall_s"] for a, b in zip(ours, theirs)), 2)
    summary["cpu_ratio"] = round(statistics.median(a["cpu_s"] / b["cpu_s"] for a, b in zip(ours, theirs)), 2)
    summary["texts"] = {"torch": ours[0]["text"], "llama_cpp": theirs[0]["text"]}
    summary["pairs"] = pairs
    return summary


def start_server(data_dir: Path, log: Path) -> tuple[subprocess.Popen, str, float]:
    """``rag serve`` on a free port: the process, its URL and the seconds until it answered for ``data_dir``."""
    port = free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env.pop("RAG_ADMIN_KEY", None)
    cmd = [*RAG, "serve", "--data-dir", str(data_dir), "--host", "127.0.0.1", "--port", str(port)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"rag serve exited with {proc.returncode}; see {log}")
        info = running_server(data_dir)
        if info is not None and info.pid == proc.pid:
            return proc, info.url, time.perf_counter() - t0
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"rag serve did not answer within {START_TIMEOUT} s; see {log}")


def ask(client: httpx.Client, mode: str) -> dict:
    t0 = time.perf_counter()
    r = client.post("/v1/collections/vite/query", json={"question": QUESTION, "mode": mode})
    r.raise_for_status()
    body = r.json()
    return {"seconds": round(time.perf_counter() - t0, 3), "answered_in": body["mode"], "timings": body["timings"]}


def server_run(mode: str, files: list[Path], settle: float) -> dict:
    """A fresh server: seconds to answer, to upload, and of its first and second question in ``mode``."""
    with tempfile.TemporaryDirectory(prefix="startup-") as tmp:
        proc, url, start = start_server(Path(tmp) / "data", Path(tmp) / "server.log")
        try:
            with httpx.Client(base_url=url, timeout=600) as client:
                time.sleep(settle)
                parts = [("files", (f.name, f.read_bytes(), "text/markdown")) for f in files]
                t0 = time.perf_counter()
                client.post("/v1/collections/vite/documents", params={"wait": "true"}, files=parts).raise_for_status()
                upload = time.perf_counter() - t0
                time.sleep(settle)
                first, second = ask(client, mode), ask(client, mode)
        finally:
            proc.terminate()
            proc.wait(60)
    return {"start_s": round(start, 3), "upload_s": round(upload, 3), "first": first, "second": second}


def server_part(runs: int, mode: str, docs: Path, n_files: int, settle: float) -> dict:
    load = [os.getloadavg()[0]]
    files = sorted(docs.glob("*.md"))[:n_files]
    if not files:
        raise SystemExit(f"no Markdown files in {docs}: give --docs")
    rows = []
    for _ in range(runs):
        rows.append(server_run(mode, files, settle))
        print(json.dumps(rows[-1]), flush=True)
    load.append(os.getloadavg()[0])
    ratios = [r["first"]["seconds"] / r["second"]["seconds"] for r in rows]
    return {
        "runs": runs,
        "mode": mode,
        "files": n_files,
        "settle_s": settle,
        "loadavg_1m": load,
        "start_s": round(statistics.median(r["start_s"] for r in rows), 3),
        "first_s": round(statistics.median(r["first"]["seconds"] for r in rows), 3),
        "second_s": round(statistics.median(r["second"]["seconds"] for r in rows), 3),
        "first_over_second": round(statistics.median(ratios), 2),
        "rows": rows,
    }


def merge(out: Path, label: str, summary: dict) -> None:
    data = json.loads(out.read_text()) if out.is_file() else {}
    data.setdefault(label, {}).update(summary)  # the CLI and the server part of one label may run apart
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cli", action="store_true", help="only the rag generate part")
    p.add_argument("--server", action="store_true", help="only the server part")
    p.add_argument("--runs", type=int, default=3, help="pairs (CLI) and server starts (default 3)")
    p.add_argument("--max-tokens", type=int, default=48)
    p.add_argument("--prompt", default=PROMPT)
    p.add_argument("--threads", type=int, help="rag generate --threads for both backends (default: theirs)")
    p.add_argument("--mode", default="extract", help="the server questions' answer mode (default extract)")
    p.add_argument("--docs", type=Path, default=DOCS, help="folder of the Markdown files to upload")
    p.add_argument("--files", type=int, default=4, help="Vite docs uploaded before the questions")
    p.add_argument("--settle", type=float, default=5.0, help="seconds after start and after the upload")
    p.add_argument("--smoke", action="store_true", help="one CLI pair of 4 tokens")
    p.add_argument("--label", default="run")
    p.add_argument("--out", type=Path, default=OUT)
    a = p.parse_args(argv)
    both = not (a.cli or a.server)
    summary: dict = {"cpu": cpu_model(), "cpus": len(os.sched_getaffinity(0))}
    if a.smoke:
        summary["cli"] = cli_part(1, a.prompt, 4, a.threads)
    else:
        if a.cli or both:
            summary["cli"] = cli_part(a.runs, a.prompt, a.max_tokens, a.threads)
        if a.server or both:
            summary["server"] = server_part(a.runs, a.mode, a.docs, a.files, a.settle)
    merge(a.out, a.label, summary)
    brief = {
        k: {m: v for m, v in s.items() if m not in ("pairs", "rows", "texts")}
        for k, s in summary.items()
        if isinstance(s, dict)
    }
    print(json.dumps(brief, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
