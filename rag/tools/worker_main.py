"""A tool worker process's side: load one function, then call it for each request from the parent.

:class:`rag.tools.worker.WorkerPool` runs this file as ``python -I -S`` with the
two pipe descriptors, the parent's ``sys.path`` (as JSON), the file of
``ingest/worker_process.py`` (the memory limit helpers the parse sandbox's worker
uses too), the target module's file and the function's name. This file, the
helpers and the target are loaded by file path, not imported as packages:
importing ``rag.tools`` would import the
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
from multiprocessing.connection import Connection
from types import ModuleType
from typing import Any


def serve() -> None:
    """The worker's loop: read a request, call, answer, until the parent closes the pipe."""
    inbox, outbox = Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False)
    sys.path[:] = json.loads(sys.argv[3])  # the parent's: its virtual environment's packages
    limits = _load(sys.argv[4])  # ingest/worker_process.py: the memory limit around each call
    target = getattr(_load(sys.argv[5]), sys.argv[6])
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash leaves no core file behind
    outbox.send("ready")
    while True:
        try:
            args, alarm_s, memory_mb = inbox.recv()
        except EOFError:  # the parent closed the pipe, or is gone
            return
        signal.alarm(alarm_s)
        limits.limit_memory(limits.address_space() + memory_mb * 2**20 if memory_mb else None)
        try:
            reply: tuple[str, Any] = ("ok", target(*args))
        except MemoryError:
            reply = ("memory", None)
        except Exception as exc:
            traceback.print_exc()
            reply = ("bug", f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}")
        finally:
            limits.limit_memory(None)
            signal.alarm(0)
        try:
            outbox.send(reply)
        except Exception as exc:  # a result that does not pickle
            outbox.send(("bug", f"{type(exc).__name__}: the result could not be sent"))


def _load(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_tool_worker_{os.path.basename(path)[:-3]}", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and pickling look a module up by name
    spec.loader.exec_module(module)
    return module


if __name__ == "__main__":
    serve()
