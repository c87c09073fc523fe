"""How much memory ``rag serve`` holds: idle, after one upload, after one question (issue 38, item 6).

The real server (``uvicorn api.app:create_app --factory``, as ``rag serve`` runs it, on a free
loopback port and a fresh data directory) is measured by its VmRSS (``/proc/PID/status``) at
three points, for each answer mode asked for:

* **idle**: once it answers ``/healthz``;
* **upload**: after ``--files`` Markdown files of the Vite docs were uploaded with ``wait=true``
  (the embedder loads, the chunks are embedded, the index is built);
* **question**: after one ``POST /v1/collections/NAME/query`` in the mode (``reader``, the
  default, loads the span reader; ``extract`` loads the generator), and again after a second.

At each point the resident memory is grouped by mapping (``/proc/PID/smaps``): the heap and
anonymous memory (Python objects, tensors, numba's compiled code, malloc's arenas), the model
files mapped from disk, and each large shared library's pages. The parser's sandbox workers
are separate processes: their RSS is reported beside the server's, not in it. The seconds of
both questions and the generator's tokens per second (generated tokens over the ``generate``
stage) show the speed the memory was measured at.

``--stages`` adds an in-process attribution (a fresh interpreter per run): the VmRSS each
part adds when loaded in the order the server loads them (:mod:`benchmarks.memory_stages`).

    python -m benchmarks.server_memory --label after --stages
    python -m benchmarks.server_memory --smoke   # reader mode only, 2 files, no stages

The summary is merged under ``--label`` into ``--out`` so that two versions sit side by side.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

from rag.bench.server_process import ServerProcess, cpu_model

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO.parent / "shared" / "data" / "vite-docs" / "documents"
OUT = REPO / "benchmarks" / "results" / "server-memory.json"
QUESTION = "What is new in Vite 3?"
LIBRARIES = ("torch", "llvmlite", "duckdb", "pyarrow", "numpy", "scipy", "tokenizers")
MODEL_FILES = (".safetensors", ".gguf")


def status_mb(pid: int, field: str) -> float:
    """A ``/proc/PID/status`` field in MB (VmRSS, VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    raise KeyError(field)


def mapping_group(name: str) -> str:
    """The breakdown group of one smaps mapping name."""
    if name in ("[heap]", ""):
        return "heap (malloc main arena)" if name else "anonymous (tensors, arenas, numba code)"
    if name.endswith(MODEL_FILES):
        return "model files (mmap)"
    if name.startswith("["):
        return "other"
    for lib in LIBRARIES:
        if f"site-packages/{lib}" in name or f"site-packages/_{lib}" in name:
            return f"{lib} (code and data)"
    return "other libraries"


def breakdown(pid: int) -> dict[str, float]:
    """Resident MB of ``pid`` per :func:`mapping_group`."""
    groups: Counter[str] = Counter()
    group = "other"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            parts = line.split(None, 5)
            group = mapping_group(parts[5].strip() if len(parts) > 5 else "")
        elif line.startswith("Rss:"):
            groups[group] += int(line.split()[1]) / 1024
    return {k: round(v, 1) for k, v in groups.most_common()}


def children_mb(pid: int) -> dict[str, float]:
    """RSS of each child process (the parser's sandbox workers), by pid."""
    out = subprocess.run(["ps", "--ppid", str(pid), "-o", "pid=,rss="], capture_output=True, text=True).stdout
    return {p: round(int(r) / 1024, 1) for p, r in (line.split() for line in out.splitlines() if line.strip())}


def point(pid: int, **extra) -> dict:
    """The memory of ``pid`` now (and ``extra``, the seconds or speeds of what led here)."""
    threads = next(int(x.split()[1]) for x in Path(f"/proc/{pid}/status").read_text().splitlines() if "Threads" in x)
    return {
        "vmrss_mb": status_mb(pid, "VmRSS"),
        "vmhwm_mb": status_mb(pid, "VmHWM"),
        "threads": threads,
        "breakdown_mb": breakdown(pid),
        "children_rss_mb": children_mb(pid),
        **extra,
    }


def upload(client: httpx.Client, files: list[Path]) -> float:
    parts = [("files", (f.name, f.read_bytes(), "text/markdown")) for f in files]
    t0 = time.perf_counter()
    r = client.post("/v1/collections/vite/documents", params={"wait": "true"}, files=parts)
    r.raise_for_status()
    return round(time.perf_counter() - t0, 3)


def ask(client: httpx.Client, mode: str) -> dict:
    """One question in ``mode``: its seconds, and the generator's tokens per second where it wrote."""
    t0 = time.perf_counter()
    r = client.post("/v1/collections/vite/query", json={"question": QUESTION, "mode": mode})
    r.raise_for_status()
    seconds = time.perf_counter() - t0
    body = r.json()
    out = {"seconds": round(seconds, 3), "answered_in": body["mode"]}
    tokens, generate = body["usage"].get("generated_tokens", 0), body["timings"].get("generate", 0.0)
    if tokens and generate:
        out["generate_tokens_per_s"] = round(tokens / generate, 1)
    return out


def measure_mode(mode: str, files: list[Path], settle: float) -> dict:
    """Start a fresh server and measure it idle, after an upload and after two questions in ``mode``."""
    with tempfile.TemporaryDirectory(prefix="server-memory-") as tmp:
        server = ServerProcess(Path(tmp) / "data", Path(tmp) / "server.log").start()
        pid = server.process.pid
        try:
            with httpx.Client(base_url=server.url, timeout=600) as client:
                time.sleep(settle)
                points = {"idle": point(pid)}
                for name, step in (
                    ("upload", lambda: {"seconds": upload(client, files)}),
                    ("question", lambda: ask(client, mode)),
                    ("second_question", lambda: ask(client, mode)),
                ):
                    done = step()
                    time.sleep(settle)  # at rest: the last steps of a job or an answer are over
                    points[name] = point(pid, **done)
        finally:
            server.stop()
    return points


def stages() -> list[dict]:
    """The in-process attribution (:mod:`benchmarks.memory_stages`), in a fresh interpreter."""
    cmd = [sys.executable, "-m", "benchmarks.memory_stages"]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def merge(out: Path, label: str, summary: dict) -> None:
    data = json.loads(out.read_text()) if out.is_file() else {}
    data[label] = summary
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--label", default="current", help="the key this run is stored under in --out")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--modes", default="reader,extract", help="answer modes, each on a fresh server")
    p.add_argument("--files", type=int, default=5, help="Markdown files of the Vite docs uploaded")
    p.add_argument("--docs", type=Path, default=DOCS, help="the folder of Markdown files (default: the Vite docs)")
    p.add_argument("--settle", type=float, default=2.0, help="seconds at rest before each reading")
    p.add_argument("--stages", action="store_true", help="add the in-process attribution")
    p.add_argument("--smoke", action="store_true", help="reader mode, 2 files, no stages")
    args = p.parse_args(argv)
    modes = ["reader"] if args.smoke else args.modes.split(",")
    n_files = 2 if args.smoke else args.files
    summary = {"cpu": cpu_model(), "files": n_files, "question": QUESTION, "unit": "MB (MiB)", "modes": {}}
    for mode in modes:
        summary["modes"][mode] = measure_mode(mode, sorted(args.docs.glob("*.md"))[:n_files], args.settle)
        rows = {k: v["vmrss_mb"] for k, v in summary["modes"][mode].items()}
        print(f"{mode}: {rows}", flush=True)
    if args.stages and not args.smoke:
        summary["stages"] = stages()
    merge(args.out, args.label, summary)
    print(json.dumps(summary["modes"], indent=1)[:4000])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
