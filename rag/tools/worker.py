"""Run a tool's work in persistent worker processes, under a deadline that frees the caller.

A tool call runs in the thread of the request that made it. Work that holds
the GIL (Python's big-integer arithmetic is C code that never lets go of it)
stalls every thread of the server, the event loop included, and no thread can
stop it: ``round(1, -10**7)`` run in a thread joined with a 1 s timeout
returned after 12.4 s, and a second thread did not run for those 12.4 s.
Work in C libraries that does let go of the GIL may still ignore a stop
request and allocate without limit: DuckDB checks its interrupt flag between
batches of rows, so a scalar function over one huge value
(``regexp_extract_all(repeat('a', 50000000), 'a')``) ran 67 s past its
interrupt and took 7.3 GB, outside its ``memory_limit``.

So such a tool calls a function in a worker process. The caller waits on a
pipe, which releases the GIL; past the deadline the worker is killed (SIGKILL
always works) and :class:`ToolTimeoutError` raised; the next call gets a fresh
worker. Each call lowers the worker's ``RLIMIT_AS`` to its current address
space plus ``memory_mb``, so an allocation past that fails (MemoryError in
Python, ``std::bad_alloc`` in C++ code, which DuckDB reports as out of memory)
instead of reaching the machine's memory.

How, measured with ``python -m benchmarks.tool_workers`` on the 2-core
development machine while other tests ran:

* a worker is ``python -I -S worker_main.py``, not a fork: the server holds
  threads, a DuckDB connection and torch state, which a fork would copy
  half-locked. ``subprocess`` starts it with fork+exec in C, which is safe in a
  threaded process, and imports nothing of the server's. Its target module is
  loaded by path (see :mod:`rag.tools.worker_main`): a calculator worker starts
  in 0.04-0.11 s and holds 15 MB; one that imports ``rag.tools.calculator``
  (and with it numba and DuckDB) takes 0.4-1.2 s and 210-260 MB. The SQL
  worker (DuckDB, pyarrow) starts in 1.0 s and holds 195 MB.
* ``multiprocessing``'s 'forkserver' was not cheaper: its first process took
  1.2 s and a later one 0.97 s, because each child imports the parent's
  ``__main__`` module again (there the benchmark, which imports ``rag.tools``;
  'spawn' does the same). Where ``__main__`` is cheap, a fork from the server
  would take milliseconds, but only a killed worker is ever started again,
  and the bounds of the tools make that rare.
* workers persist: a calculator call took 0.27 ms through the worker against
  0.02 ms in-process. A call cut at a 0.5 s deadline returned after 0.51 s,
  and the next call, in a fresh worker, took 0.08 s.

A pool keeps up to ``workers`` processes; a call waits up to its deadline for
a free one. Workers exit with this process (``atexit``, or when their pipe closes).
"""

from __future__ import annotations

import atexit
import json
import logging
import math
import sys
import threading
import weakref
from pathlib import Path
from typing import Any

from ingest import worker_process
from ingest.worker_process import WorkerProcess
from rag.tools.base import ToolError

STARTUP_S = 60.0  # for a worker to start (a DuckDB worker's takes about 1 s)
ALARM_GRACE_S = 30  # the worker's own alarm ends a call this long after its deadline, should this process be gone
log = logging.getLogger(__name__)
_MAIN = Path(__file__).with_name("worker_main.py")
_LIMITS = worker_process.__file__  # the worker loads its memory limit helpers by path (it imports no package)


class ToolTimeoutError(ToolError):
    """A call ran past its deadline; its worker was killed."""


class ToolBusyError(ToolError):
    """Every worker of the pool stayed busy for the whole deadline of a call."""


class ToolMemoryError(ToolError):
    """A call needed more memory than its worker's limit."""


class ToolCrashedError(ToolError):
    """A worker died during a call, or raised an exception its function does not expect."""


class WorkerPool:
    """Calls one function in worker processes, each call under a deadline and a memory limit.

    Args:
        module: A Python file that imports only the standard library and installed packages
            (it is loaded by path, without this repository's packages).
        function: The name of a module-level function in it; its arguments and result must pickle.
        name: What the messages call it, such as ``"the calculator"``.
        workers: Most processes at once; a call waits up to its deadline for a free one.
        memory_mb: Address space a call may add to its worker's.
    """

    def __init__(self, module: Path, function: str, *, name: str, workers: int = 2, memory_mb: int = 256) -> None:
        self.module, self.function, self.name = Path(module), function, name
        self.workers, self.memory_mb = workers, memory_mb
        self._slots = threading.BoundedSemaphore(workers)
        self._lock = threading.Lock()
        self._idle: list[WorkerProcess] = []
        _LIVE.add(self)

    @property
    def worker_pids(self) -> list[int]:
        """The process ids of the idle workers (a busy one is not listed)."""
        with self._lock:
            return [w.process.pid for w in self._idle if w.alive()]

    def call(self, *args: Any, timeout_s: float, memory_mb: int | None = None) -> Any:
        """``function(*args)`` in a worker; the caller is free again after ``timeout_s`` at most.

        ``memory_mb`` overrides the pool's limit for this call.

        Raises:
            ToolTimeoutError: No answer within ``timeout_s``: the call was stopped.
            ToolBusyError: No worker was free within ``timeout_s``.
            ToolMemoryError: The call needed more than ``memory_mb`` of memory.
            ToolCrashedError: The worker died, or the function raised.
        """
        memory_mb = memory_mb or self.memory_mb
        if not self._slots.acquire(timeout=timeout_s):
            raise ToolBusyError(f"{self.name} is busy with other requests; try again in a moment")
        try:
            worker, reusable = self._take(), False
            try:
                worker.outbox.send((args, math.ceil(timeout_s) + ALARM_GRACE_S, memory_mb))
                if not worker.inbox.poll(timeout_s):
                    raise ToolTimeoutError(f"{self.name} ran longer than {timeout_s:g} s and was stopped")
                kind, payload = worker.inbox.recv()
                reusable = kind != "memory"  # after a MemoryError, a fresh worker: its heap unfragmented
            except (EOFError, OSError):
                how = worker.how_it_ended() or "it stopped answering"
                raise ToolCrashedError(f"{self.name} stopped unexpectedly ({how})") from None
            finally:  # whatever ended the wait (an interrupt included), a worker that may still run is killed
                if reusable:
                    self._put_back(worker)
                else:
                    worker.stop()
        finally:
            self._slots.release()
        if kind == "ok":
            return payload
        if kind == "memory":
            raise ToolMemoryError(f"{self.name} needed more than {memory_mb} MB of memory and was stopped")
        raise ToolCrashedError(f"{self.name} failed ({payload})")

    def close(self) -> None:
        """Stop the idle workers (a later call starts new ones)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.stop()

    def _take(self) -> WorkerProcess:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.alive():
                    return worker
                worker.stop()
        try:  # outside the lock: other calls need not wait for its start
            after = [json.dumps(sys.path), _LIMITS, str(self.module), self.function]
            return WorkerProcess(["-I", "-S", str(_MAIN)], after, "a tool worker process", STARTUP_S)
        except (OSError, RuntimeError) as exc:
            log.error("%s: %s", self.name, exc)
            raise ToolCrashedError(f"{self.name} could not start its worker process; the server log has why") from None

    def _put_back(self, worker: WorkerProcess) -> None:
        with self._lock:
            self._idle.append(worker)


_LIVE: weakref.WeakSet[WorkerPool] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for pool in list(_LIVE):
        pool.close()
