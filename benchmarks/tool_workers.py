"""Why tool calls run in worker processes, and what that costs (issue 31; see ``rag/tools/worker.py``).

One JSON line per measurement:

* ``thread_deadline``: ``round(1, -10**digits)`` (the unbounded calculator's
  work) in a thread joined with a 1 s timeout: when the join returned, and the
  longest stall of a second thread that counts meanwhile (the GIL is held);
* ``worker_start``: seconds and resident MB of a fresh worker, for the
  calculator (its module loaded by path), the SQL tool (DuckDB, pyarrow) and,
  for comparison, a child that imports ``rag.tools.calculator`` as a package;
* ``forkserver_start``: the first and a later process of ``multiprocessing``'s
  'forkserver' (the alternative: later starts are forks of a prepared process);
* ``call_overhead``: microseconds per calculator call in-process and in the worker;
* ``deadline_restart``: a call cut at its deadline, then the next call (a fresh worker);
* ``sql_issue_query``: the issue's ``SELECT max(len(l)) ...`` through ``SqlTool``:
  seconds, the answer, this process's and the worker's peak resident MB.

    .venv/bin/python -m benchmarks.tool_workers            # about 30 s
    .venv/bin/python -m benchmarks.tool_workers --smoke    # a few seconds
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from rag.tools import arithmetic
from rag.tools.calculator import Calculator
from rag.tools.sql import SqlTool
from rag.tools.worker import ToolError, WorkerPool

ISSUE_QUERY = "SELECT max(len(l)) FROM (SELECT list(range) AS l FROM range(150000000))"


def emit(**record) -> None:
    print(json.dumps(record), flush=True)


def peak_mb(pid: int | None = None) -> float:
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return int(Path(f"/proc/{pid}/status").read_text().split("VmHWM:")[1].split()[0]) / 1024


def thread_deadline(digits: int) -> None:
    stamps, done = [], threading.Event()

    def count() -> None:
        while not done.is_set():
            stamps.append(time.monotonic())
            time.sleep(0.001)

    counter = threading.Thread(target=count)
    counter.start()
    time.sleep(0.05)
    start = time.monotonic()
    work = threading.Thread(target=round, args=(1, -(10**digits)), daemon=True)
    work.start()
    work.join(timeout=1.0)
    returned = time.monotonic() - start
    work.join()
    finished = time.monotonic() - start
    done.set()
    counter.join()
    stall = max(b - a for a, b in zip(stamps, stamps[1:], strict=False))
    emit(
        measure="thread_deadline",
        digits=digits,
        join_returned_s=round(returned, 3),
        work_s=round(finished, 3),
        longest_stall_s=round(stall, 3),
    )


def worker_start(label: str, pool: WorkerPool, first_call: tuple) -> None:
    start = time.monotonic()
    pool.call(*first_call, timeout_s=60)
    seconds = time.monotonic() - start
    emit(measure="worker_start", kind=label, seconds=round(seconds, 3), rss_mb=round(peak_mb(pool.worker_pids[0]), 1))
    pool.close()


def package_import_start() -> None:
    code = "import resource, rag.tools.calculator; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    emit(
        measure="worker_start",
        kind="python -c 'import rag.tools.calculator'",
        seconds=round(time.monotonic() - start, 3),
        rss_mb=round(int(out) / 1024, 1),
    )


def forkserver_start() -> None:
    context = multiprocessing.get_context("forkserver")
    times = []
    for _ in range(2):
        start = time.monotonic()
        process = context.Process(target=os.getpid)
        process.start()
        process.join()
        times.append(round(time.monotonic() - start, 3))
    emit(measure="forkserver_start", first_s=times[0], later_s=times[1])


def call_overhead(calls: int) -> None:
    tool = Calculator()
    tool({"expression": "1 + 1"})
    start = time.perf_counter()
    for _ in range(calls):
        arithmetic.evaluate("17.5% of 2,340")
    in_process = (time.perf_counter() - start) / calls
    start = time.perf_counter()
    for _ in range(calls):
        tool({"expression": "17.5% of 2,340"})
    worker = (time.perf_counter() - start) / calls
    emit(measure="call_overhead", in_process_us=round(in_process * 1e6), worker_us=round(worker * 1e6))


def deadline_restart(folder: Path) -> None:
    # the calculator's bounds refuse 10**10**8 at once: a module of its own computes it
    (folder / "slow.py").write_text("def digits(exponent):\n    return (10**exponent).bit_length()\n")
    pool = WorkerPool(folder / "slow.py", "digits", name="a slow function", workers=1)
    pool.call(1, timeout_s=60)
    start = time.monotonic()
    try:
        pool.call(10**8, timeout_s=0.5)
        cut = None
    except ToolError as exc:
        cut = str(exc)
    first = time.monotonic() - start
    start = time.monotonic()
    pool.call(1, timeout_s=60)
    emit(measure="deadline_restart", call_s=round(first, 3), answer=cut, next_call_s=round(time.monotonic() - start, 3))
    pool.close()


def sql_issue_query(folder: Path) -> None:
    pq.write_table(pa.table({"x": [1, 2]}), folder / "t.parquet")
    tool = SqlTool({"t": folder / "t.parquet"})
    tool({"query": "SELECT 1"})
    start = time.monotonic()
    try:
        answer = tool({"query": ISSUE_QUERY}).text
    except ToolError as exc:
        answer = str(exc)
    seconds = time.monotonic() - start
    emit(
        measure="sql_issue_query",
        seconds=round(seconds, 2),
        answer=answer[:90],
        parent_peak_mb=round(peak_mb()),
        worker_peak_mb=round(peak_mb(tool.workers.worker_pids[0])),
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="smaller work: a few seconds in all")
    args = ap.parse_args(argv)
    thread_deadline(6 if args.smoke else 7)
    calculator = WorkerPool(Path(arithmetic.__file__), "run", name="the calculator")
    worker_start("calculator (module loaded by path)", calculator, ("1",))
    sql = WorkerPool(Path(arithmetic.__file__).with_name("sql_engine.py"), "run", name="the sql tool")
    with tempfile.TemporaryDirectory() as folder:
        pq.write_table(pa.table({"x": [1]}), Path(folder) / "t.parquet")
        worker_start("sql (duckdb, pyarrow)", sql, ({"t": f"{folder}/t.parquet"}, "SELECT 1", 5, 5.0, 256, 2**20))
        package_import_start()
        forkserver_start()
        call_overhead(200 if args.smoke else 2000)
        deadline_restart(Path(folder))
        if not args.smoke:
            sql_issue_query(Path(folder))


if __name__ == "__main__":
    main()
