"""The sandbox's worker process: reads files from a pipe, parses each under limits, answers.

``sandbox.SandboxedParser`` starts it as ``python -c`` with the two pipe
descriptors and the parent's ``sys.path`` as arguments. Per request
(``(target, data, filename, media_type, memory_mb, timeout_s)``) it lowers its
soft ``RLIMIT_AS`` to its idle address space plus ``memory_mb``, sets an
alarm (should the parent be gone, the kernel still ends a parse that loops),
parses, lifts both and answers ``(kind, payload, log records)``: ``ok`` with
the document, ``error`` with a platform error, ``memory`` when the parse ran out
of memory (the parsers wrap what they catch: the cause chain is searched),
``bug`` with the summary and traceback of any other exception.
"""

from __future__ import annotations

import logging
import math
import resource
import signal
import sys
import traceback
from multiprocessing.connection import Connection

from core.errors import RAGError
from ingest.worker_process import address_space, limit_memory


def serve() -> None:
    """The worker's loop (``python -c`` runs it): read a request, parse, answer, until the pipe closes."""
    from . import parse_bytes

    inbox, outbox = Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash leaves no core file behind
    idle = address_space()
    logging.getLogger().addHandler(records := _Records())
    outbox.send("ready")
    while True:
        try:
            target, data, filename, media_type, memory_mb, timeout_s = inbox.recv()
        except EOFError:  # the parent closed the pipe, or is gone
            return
        records.kept = []
        signal.alarm(math.ceil(timeout_s) + 30)
        limit_memory(idle + memory_mb * 2**20)
        try:
            reply = ("ok", (target or parse_bytes)(data, filename, media_type))
        except Exception as exc:  # MemoryError included
            if _caused_by_memory(exc):
                reply = ("memory", None)
            elif isinstance(exc, RAGError):
                reply = ("error", exc)
            else:
                reply = ("bug", (_summary(exc), traceback.format_exc()))
        finally:
            limit_memory(None)
            signal.alarm(0)
        del data
        try:
            outbox.send((*reply, records.kept))
        except Exception as exc:  # a result or error that does not pickle
            outbox.send(("bug", (_summary(exc), traceback.format_exc()), records.kept))


class _Records(logging.Handler):
    """Keeps the worker's log records (at most 100 per file), formatted so that they pickle."""

    kept: list[logging.LogRecord] = []  # replaced per file

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.kept) < 100:
            record.msg, record.args = self.format(record), None
            record.exc_info = record.exc_text = record.stack_info = None
            self.kept.append(record)


def _caused_by_memory(exc: BaseException | None) -> bool:
    """Whether ``exc`` is, or was raised while handling, a MemoryError (parsers wrap what they catch)."""
    for _ in range(20):
        if exc is None:
            return False
        if isinstance(exc, MemoryError):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _summary(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    return text if len(text) <= 200 else text[:197] + "..."
