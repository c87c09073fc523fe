"""A persistent worker process for work that may loop or eat memory: start it, talk to it, kill it.

Two parts of the platform run untrusted work this way: the parse sandbox
(``ingest.parse.sandbox``: a crafted PDF can make a parser loop) and the tools
the model calls (``rag.tools.worker``: an expression can hold the GIL, a query
can ignore DuckDB's own limits). Both need the same process: a fresh
interpreter started with fork+exec (``subprocess``, never a bare fork: the
server holds threads, a DuckDB connection and torch state, which a fork would
copy half-locked), two pipes, a wait for its imports so they never count
against a call's deadline, a kill that always works, and words for how it
ended. That is :class:`WorkerProcess`, the parent's side.

The worker's side is :func:`address_space` and :func:`limit_memory`, which
lower the soft ``RLIMIT_AS`` around each call. This module uses the standard
library only, so a worker may load it by file path without importing any of
the platform's packages (the tool workers do: see ``rag.tools.worker_main``).
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from multiprocessing.connection import Connection

# A worker does no numeric work in parallel: one thread each, so that its idle address space stays small.
THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


class WorkerProcess:
    """One worker process and the two pipes to it, ready once its first message ("ready") arrived.

    The worker is ``python *before <read fd> <write fd> *after``: it reads requests from the first
    descriptor and writes answers to the second.

    Args:
        before: Interpreter arguments before the descriptors (``["-c", code]``, ``["-I", "-S", file]``).
        after: Arguments after the descriptors.
        what: What messages call it, such as ``"the parsing worker process"``.
        startup_s: Seconds its imports may take.

    Raises:
        RuntimeError: It did not start (its errors are on stderr).
    """

    def __init__(self, before: list[str], after: list[str], what: str, startup_s: float) -> None:
        from_parent, to_child = os.pipe()
        from_child, to_parent = os.pipe()
        try:
            self.process = subprocess.Popen(
                [sys.executable, *before, str(from_parent), str(to_parent), *after],
                pass_fds=(from_parent, to_parent),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                env={**os.environ, **THREAD_ENV},
                start_new_session=True,  # a Ctrl-C in the terminal is the parent's to handle
            )
        except BaseException:
            os.close(to_child)
            os.close(from_child)
            raise
        finally:
            os.close(from_parent)
            os.close(to_parent)
        self.owner = os.getpid()
        self.outbox = Connection(to_child, readable=False)
        self.inbox = Connection(from_child, writable=False)
        try:  # wait for its imports, so that they never count against a call's deadline
            if not self.inbox.poll(startup_s):
                raise EOFError
            self.inbox.recv()
        except (EOFError, OSError):
            how = self.how_it_ended() or f"it did not answer within {startup_s:g} s"
            self.stop(kill=True)
            raise RuntimeError(f"{what} did not start: {how} (its errors are on stderr)") from None

    def alive(self) -> bool:
        return self.owner == os.getpid() and self.process.poll() is None

    def stop(self, kill: bool = True) -> None:
        """End the worker: at once with ``kill``, else by closing its pipe (it exits when it reads EOF) and
        killing it only if it has not ended 2 s later."""
        if self.owner != os.getpid():  # inherited by a fork: the worker is the parent's
            return
        self.outbox.close()
        self.inbox.close()
        if kill or self.how_it_ended(wait_s=2) is None:
            try:  # its own session (start_new_session): a program it runs (tesseract) goes with it
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):  # already gone (or reaped)
                self.process.kill()
            self.process.wait()

    def how_it_ended(self, wait_s: float = 1) -> str | None:
        """How the process ended (waiting up to ``wait_s`` for it to), or None while it runs."""
        try:
            code = self.process.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            return None
        if code >= 0:
            return f"the worker process exited with status {code}"
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        return f"the worker process was killed by {name}" + (" (out of memory?)" if -code == signal.SIGKILL else "")


# -- the worker's side ----------------------------------------------------------------


def address_space() -> int:
    """This process's address space in bytes (0 where /proc is missing: the limit is then the call's alone)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):  # not Linux: the limit is memory_mb in all
        return 0


def limit_memory(limit: int | None) -> None:
    """Set the soft RLIMIT_AS (None: lift it to the hard limit, which stays, so it can be lifted again)."""
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    soft = hard if limit is None or (hard != resource.RLIM_INFINITY and limit > hard) else limit
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
