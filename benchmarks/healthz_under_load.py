"""How long /healthz takes while streamed answers wait for the model (issue 31: 8 streams made it take 6.2 s).

The real server (``uvicorn api.app:create_app --factory``, as ``rag serve`` runs it,
on a free loopback port and a fresh data directory) with the real models: one
document is uploaded (the embedder) and one question answered (the generator
loads), then for each count of streams:

* that many ``POST /v1/collections/{c}/query`` with ``stream: true`` are opened,
  each on its own connection, and held open (the model answers them one at a time);
* once every stream has its response headers, ``/healthz`` is probed ``probes``
  times, ``gap`` seconds apart; each probe's seconds are recorded (a probe that
  takes more than ``timeout`` counts as ``timeout``);
* the streams are closed (the server drops their answers) and the next count starts
  once /healthz answers quickly again.

The summary (median and max per count, with every probe) is merged under ``--label``
into ``--out``, so that runs of two versions of the code sit side by side: run the
script from each version's checkout (the server is the code beside the script).

    python -m benchmarks.healthz_under_load --label after --out benchmarks/results/healthz-under-load-summary.json
    python -m benchmarks.healthz_under_load --smoke   # 2 streams, 3 probes
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx

from rag.bench.server_process import ServerProcess, cpu_model

REPO = Path(__file__).resolve().parents[1]
COLLECTION = "load"
DOCUMENT = (
    "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. It is named after "
    "the engineer Gustave Eiffel, whose company designed and built the tower from 1887 to 1889 as the entrance "
    "arch of the 1889 World's Fair. It is 330 metres tall and was the tallest man-made structure in the world "
    "until 1930. The tower has three levels for visitors, with restaurants on the first and second levels.\n"
)
# A question the model answers at length (mode passages writes freely), so that the streams stay open.
QUESTION = {"question": "Describe the Eiffel Tower in detail.", "k": 3, "mode": "passages", "abstain": False}


class Streams:
    """``n`` streamed questions held open, each on its own connection, until ``close``."""

    def __init__(self, url: str, n: int) -> None:
        self.url, self.opened, self.stop = url, threading.Semaphore(0), threading.Event()
        self.errors: list[str] = []
        self.threads = [threading.Thread(target=self._hold, daemon=True) for _ in range(n)]
        for t in self.threads:
            t.start()

    def _hold(self) -> None:
        try:
            with httpx.Client(timeout=600) as http:
                body = {**QUESTION, "stream": True}
                with http.stream("POST", f"{self.url}/v1/collections/{COLLECTION}/query", json=body) as r:
                    if r.status_code != 200:
                        self.errors.append(f"HTTP {r.status_code}")
                    self.opened.release()
                    self.stop.wait()
        except httpx.HTTPError as exc:
            self.errors.append(repr(exc))
            self.opened.release()

    def wait_open(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        return all(self.opened.acquire(timeout=max(0.0, deadline - time.monotonic())) for _ in self.threads)

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)


def probe(http: httpx.Client, url: str, timeout: float) -> float | None:
    """Seconds /healthz took, or None past ``timeout``."""
    started = time.perf_counter()
    try:
        http.get(f"{url}/healthz", timeout=timeout).raise_for_status()
    except httpx.TimeoutException:
        return None
    return time.perf_counter() - started


def settle(http: httpx.Client, url: str, deadline_s: float = 600.0) -> None:
    """Wait until /healthz answers within 0.2 s three times in a row (the dropped answers have drained)."""
    deadline, quick = time.monotonic() + deadline_s, 0
    while quick < 3 and time.monotonic() < deadline:
        took = probe(http, url, 60)
        quick = quick + 1 if took is not None and took < 0.2 else 0
        time.sleep(0.5)


def measure(url: str, streams: int, probes: int, gap: float, timeout: float) -> dict:
    held = Streams(url, streams)
    try:
        opened = held.wait_open(600)
        with httpx.Client() as http:
            took = []
            for _ in range(probes):
                took.append(probe(http, url, timeout))
                time.sleep(gap)
    finally:
        held.close()
    seconds = [t if t is not None else timeout for t in took]
    return {
        "streams": streams,
        "all_streams_opened": opened and not held.errors,
        "stream_errors": held.errors[:5],
        "median_s": round(statistics.median(seconds), 4),
        "max_s": round(max(seconds), 4),
        "timeouts": sum(t is None for t in took),
        "probes_s": [round(t, 4) if t is not None else "timeout" for t in took],
    }


def commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "api"], cwd=REPO, capture_output=True, text=True)
        return out.stdout.strip() + ("+uncommitted api changes" if dirty.stdout.strip() else "")
    except OSError:
        return "unknown"


def run(counts: list[int], probes: int, gap: float, timeout: float, out_dir: Path) -> dict:
    with tempfile.TemporaryDirectory() as data_dir, ServerProcess(Path(data_dir), out_dir / "server.log") as server:
        with httpx.Client(timeout=600) as http:
            files = {"files": ("tower.txt", DOCUMENT.encode(), "text/plain")}
            r = http.post(f"{server.url}/v1/collections/{COLLECTION}/documents?wait=true", files=files)
            r.raise_for_status()
            started = time.perf_counter()
            r = http.post(f"{server.url}/v1/collections/{COLLECTION}/query", json=QUESTION)
            r.raise_for_status()
            one_answer_s = time.perf_counter() - started
            results = []
            for n in counts:
                settle(http, server.url)
                results.append(measure(server.url, n, probes, gap, timeout))
                print(json.dumps({k: v for k, v in results[-1].items() if k != "probes_s"}), flush=True)
    return {
        "code": commit(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "one_answer_s": round(one_answer_s, 2),
        "one_answer_usage": r.json()["usage"],
        "probes": probes,
        "gap_s": gap,
        "probe_timeout_s": timeout,
        "results": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, nargs="+", default=[8, 20], help="counts of open streams")
    parser.add_argument("--probes", type=int, default=20)
    parser.add_argument("--gap", type=float, default=0.25, help="seconds between probes")
    parser.add_argument("--timeout", type=float, default=120.0, help="a probe slower than this counts as timeout")
    parser.add_argument("--label", default="run", help="the key of this run in --out, e.g. before / after")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "healthz-under-load-summary.json")
    parser.add_argument("--smoke", action="store_true", help="2 streams, 3 probes, nothing written: to check it")
    args = parser.parse_args()
    if args.smoke:
        args.streams, args.probes = [2], 3
    with tempfile.TemporaryDirectory() as logs:
        summary = run(args.streams, args.probes, args.gap, args.timeout, Path(logs))
    if args.smoke:
        print(json.dumps(summary, indent=2))
        return
    merged = json.loads(args.out.read_text()) if args.out.exists() else {}
    merged[args.label] = summary
    args.out.write_text(json.dumps(merged, indent=2) + "\n")
    print(f"wrote {args.out} [{args.label}]")


if __name__ == "__main__":
    main()
