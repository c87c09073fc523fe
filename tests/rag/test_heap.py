"""rag.heap: freed memory goes back to the OS, and the trimmer does it on its own thread."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from rag.heap import Trimmer, release_free_heap


def _vmrss_kb() -> int:
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1])


def test_release_free_heap_returns_freed_small_blocks():
    # 200k blocks of 1 KiB: under the mmap threshold, so malloc keeps them after they are freed
    blocks = [bytearray(1024) for _ in range(200_000)]
    held = _vmrss_kb()
    del blocks
    assert release_free_heap() in (True, False)  # False only where there was nothing to give back
    assert _vmrss_kb() < held - 100_000  # about 200 MB were given back, not kept for the next allocation


def test_trimmer_runs_off_the_calling_thread():
    trimmer = Trimmer()
    trimmer.soon("an answer", "ignored")  # a listener's arguments are ignored
    deadline = time.monotonic() + 5
    while trimmer._thread is None or trimmer._wanted.is_set():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert trimmer._thread is not threading.current_thread() and trimmer._thread.daemon
    assert trimmer._thread.name == "rag-heap-trim"
