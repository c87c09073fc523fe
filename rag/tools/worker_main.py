"""A tool worker process's side: load one function, then call it for each request from the parent.

:class:`rag.tools.worker.WorkerPool` runs this file as ``python -I -S`` with the
two pipe descriptors, the parent's ``sys.path`` (as JSON), the target module's
file and the function's name. This file and the target are loaded by file path,
not imported as ``rag.tools....``: importing the package would import the
vector indexes (numba) and DuckDB, 200 MB and half a second the worker does not need.
So this module uses the standard library only.

Per request ``(args, alarm_s, memory_mb)`` it sets an alarm (SIGALRM's default
action ends the process, so should the parent be gone a call still ends, even
inside C code that never returns to Python), lowers its soft ``RLIMIT_AS`` to
its current address space plus ``memory_mb``, calls the function, lifts both
and answers ``("ok", result)``, ``("memory", None)`` on MemoryError, or
``("bug", "Type: message")`` on any other exception (the traceback goes to stderr).
"""

from __future__ import annotations

import importlib.util
import json
import os
import resource
import signal
import sys
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any


def serve() -> None:
    """The worker's loop: read a request, call, answer, until the parent closes the pipe."""
    inbox, outbox = Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False)
    sys.path[:] = json.loads(sys.argv[3])  # the parent's: its virtual environment's packages
    target = _load(sys.argv[4], sys.argv[5])
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash leaves no core file behind
    outbox.send("ready")
    while True:
        try:
            args, alarm_s, memory_mb = inbox.recv()
        except EOFError:  # the parent closed the pipe, or is gone
            return
        signal.alarm(alarm_s)
        _limit_memory(_address_space() + memory_mb * 2**20 if memory_mb else None)
        try:
            reply: tuple[str, Any] = ("ok", target(*args))
        except MemoryError:
            reply = ("memory", None)
        except Exception as exc:
            traceback.print_exc()
            reply = ("bug", f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}")
        finally:
            _limit_memory(None)
            signal.alarm(0)
        try:
            outbox.send(reply)
        except Exception as exc:  # a result that does not pickle
            outbox.send(("bug", f"{type(exc).__name__}: the result could not be sent"))


def _load(path: str, function: str) -> Callable[..., Any]:
    spec = importlib.util.spec_from_file_location(f"_tool_worker_{os.path.basename(path)[:-3]}", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and pickling look a module up by name
    spec.loader.exec_module(module)
    return getattr(module, function)


def _address_space() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):  # not Linux: the limit is memory_mb in all
        return 0


def _limit_memory(limit: int | None) -> None:
    """Set the soft RLIMIT_AS (None: lift it to the hard limit, which stays, so it can be lifted again)."""
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    soft = hard if limit is None or (hard != resource.RLIM_INFINITY and limit > hard) else limit
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


if __name__ == "__main__":
    serve()
