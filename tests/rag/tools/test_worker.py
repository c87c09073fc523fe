"""A worker pool calls a function in other processes: a deadline frees the caller, and a bad call harms no one."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from rag.tools.worker import ToolBusyError, ToolCrashedError, ToolMemoryError, ToolTimeoutError, WorkerPool

TARGETS = Path(__file__).with_name("worker_targets.py")


@pytest.fixture
def pool_of():
    pools = []

    def make(function, **options):
        pools.append(WorkerPool(TARGETS, function, name="the test tool", **options))
        return pools[-1]

    yield make
    for pool in pools:
        pool.close()


def test_calls_run_in_a_kept_worker(pool_of):
    pool = pool_of("pid")
    first = pool.call(timeout_s=5)
    assert first != os.getpid()
    assert pool.call(timeout_s=5) == first  # the same process answers the next call
    assert pool.worker_pids == [first]
    assert pool_of("echo").call(1, "two", [3.0], timeout_s=5) == (1, "two", [3.0])


def test_deadline_frees_the_caller_and_other_threads_keep_running(pool_of):
    # In a thread, this computation would hold the GIL for minutes: no other thread would run, nothing could stop it.
    pool = pool_of("power_of_ten_digits", workers=1)
    pool.call(1, timeout_s=5)  # started, so the deadline counts the call alone
    stamps, done = [], threading.Event()

    def count():
        while not done.is_set():
            stamps.append(time.monotonic())
            time.sleep(0.001)

    counter = threading.Thread(target=count)
    counter.start()
    start = time.monotonic()
    try:
        with pytest.raises(ToolTimeoutError, match="the test tool ran longer than 1 s and was stopped"):
            pool.call(10**8, timeout_s=1)
    finally:
        done.set()
        counter.join()
    assert time.monotonic() - start < 3
    during = [s for s in stamps if start <= s]
    assert max(b - a for a, b in zip(during, during[1:], strict=False)) < 0.5  # never stalled
    assert pool.call(3, timeout_s=5) == 10  # a fresh worker for the next call


def test_memory_limit(pool_of):
    pool = pool_of("allocate", memory_mb=64)
    with pytest.raises(ToolMemoryError, match="needed more than 64 MB of memory"):
        pool.call(512, timeout_s=10)
    assert pool.call(8, timeout_s=10) == 8 * 2**20
    assert pool.call(512, timeout_s=10, memory_mb=1024) == 512 * 2**20  # a call may raise the limit


def test_a_dying_worker_is_an_error_and_is_replaced(pool_of):
    pool = pool_of("exit_now")
    with pytest.raises(ToolCrashedError, match=r"stopped unexpectedly \(the worker process exited with status 3\)"):
        pool.call(3, timeout_s=5)
    with pytest.raises(ToolCrashedError, match="failed \\(ValueError: this function is broken\\)"):
        pool_of("fail").call(timeout_s=5)


def test_a_busy_pool_makes_the_next_call_wait_at_most_its_deadline(pool_of):
    pool = pool_of("power_of_ten_digits", workers=1)
    pool.call(1, timeout_s=5)
    slow = threading.Thread(target=lambda: pytest.raises(ToolTimeoutError, pool.call, 10**8, timeout_s=2))
    slow.start()
    time.sleep(0.3)
    start = time.monotonic()
    with pytest.raises(ToolBusyError, match="the test tool is busy with other requests; try again"):
        pool.call(1, timeout_s=0.5)
    assert time.monotonic() - start < 1.5
    slow.join()
