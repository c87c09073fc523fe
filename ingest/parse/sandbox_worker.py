"""The sandbox's worker process: reads files from a pipe, parses each under limits, answers.

``sandbox.SandboxedParser`` starts it as ``python -c`` with the two pipe
descriptors and the parent's ``sys.path`` as arguments. Per request
(``(target, data, filename, media_type, password, memory_mb, timeout_s)``) it
lowers its soft ``RLIMIT_AS`` to its idle address space plus ``memory_mb``,
sets an alarm (should the parent be gone, the kernel still ends a parse that
loops), parses, lifts both and answers ``(kind, payload, log records)``: ``ok``
with the document, ``error`` with a platform error, ``memory`` when the parse
ran out of memory (the parsers wrap what they catch: the cause chain is
searched), ``bug`` with the summary and traceback of any other exception.

While it parses, each ``progress.report`` of the parser is sent at once as
``("progress", (done, total, unit), None)``, and moves the alarm to the
longer time limit it earns (``time_limit``).
"""

from __future__ import annotations

import logging
import math
import resource
import signal
import sys
import time
import traceback
from multiprocessing.connection import Connection

from core.errors import RAGError
from ingest.worker_process import address_space, limit_memory

from . import progress

# Each unit of work a parse reports done (a page read by OCR: 1 to 3 s on one core, more when parses
# share the cores) adds this to its time limit, for at most ``ocr.MAX_PAGES`` units: a 30-page scan is
# not killed at a limit meant for text, and a parse that loops without progress still is.
SECONDS_PER_UNIT = 20.0


def time_limit(timeout_s: float, done: int) -> float:
    """The seconds a parse may take once it has reported ``done`` units of work (see ``SECONDS_PER_UNIT``)."""
    if done <= 0:
        return timeout_s
    from .ocr import MAX_PAGES  # imported (with Pillow) only once a parse reports progress

    return timeout_s + SECONDS_PER_UNIT * min(done, MAX_PAGES)


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
            target, data, filename, media_type, password, memory_mb, timeout_s = inbox.recv()
        except EOFError:  # the parent closed the pipe, or is gone
            return
        records.kept = []
        signal.alarm(math.ceil(timeout_s) + 30)
        limit_memory(idle + memory_mb * 2**20)
        extra = {"password": password} if password is not None else {}  # a test's target takes three arguments
        try:
            with progress.reporting(_forward(outbox, timeout_s)):
                reply = ("ok", (target or parse_bytes)(data, filename, media_type, **extra))
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


def _forward(outbox: Connection, timeout_s: float) -> progress.Callback:
    """A progress callback that sends each report to the parent and moves the alarm to the limit it earns."""
    started = time.monotonic()

    def send(done: int, total: int, unit: str) -> None:
        outbox.send(("progress", (done, total, unit), None))
        left = time_limit(timeout_s, done) - (time.monotonic() - started)
        signal.alarm(max(1, math.ceil(left)) + 30)

    return send


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
