"""Parse uploads in a worker process with a time and a memory limit.

A crafted file can make a parser loop (a 2 KB PDF page of 150,000 tiny text
operations keeps pypdf busy for ten minutes) or expand into gigabytes; in the
server's process either would hold a job worker or take the server down.
``SandboxedParser.parse`` runs ``parse_bytes`` in a worker process instead:
past ``timeout_s`` of wall time the worker is killed (``ParseTimeoutError``);
its address space (``RLIMIT_AS``) may grow ``memory_mb`` past its idle size, a
parse that needs more gets ``MemoryError`` there (``ParseMemoryError`` here);
a worker that dies (a crash in C code, the OOM killer) gives
``ParserCrashedError``. Each is a ``DocumentParseError`` (HTTP 422) naming
the file, and the next file gets a fresh worker.

The worker is a plain ``python -c`` child, not a fork, so it never inherits
the server's threads or torch state. It starts on first use (about 0.7 s of
imports) and is kept: a small file then costs a few milliseconds more than
parsing in-process. It exits with this process (``atexit``, or when its pipe
closes). One parser serves one file at a time: threads calling it at once
wait their turn. ``parse_sandboxed`` therefore takes a parser of a shared
pool, one per thread parsing at once (up to ``POOL_SIZE``), so a file that
takes the whole time limit holds its own worker process and no other thread's
parse waits behind it. The worker's log records are logged here. The worker's
side is ``sandbox_worker``.

A slow parser reports progress (``progress.report``: OCR, a page at a time);
the reports reach ``on_progress`` in this process as they happen, and each
unit reported done adds ``sandbox_worker.SECONDS_PER_UNIT`` to the time limit
(see ``sandbox_worker.time_limit``): a fixed minute would kill a 30-page scan,
while a parse that loops without progress is still stopped at ``timeout_s``.
"""

from __future__ import annotations

import atexit
import json
import logging
import sys
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from ingest.errors import DocumentParseError
from ingest.worker_process import WorkerProcess

from . import sandbox_worker
from .progress import Callback
from .types import ParsedDocument

TIMEOUT_S = 60.0  # wall time one file may take to parse
MEMORY_MB = 2048  # address space one parse may add to the idle worker's
STARTUP_S = 60.0  # for a worker to start (its imports take about 0.7 s)
POOL_SIZE = 4  # worker processes of the shared pool: threads parsing at once (each may use MEMORY_MB)

Target = Callable[[bytes, str, "str | None"], ParsedDocument]
log = logging.getLogger(__name__)
_BOOT = (
    "import json, sys; sys.path[:] = json.loads(sys.argv[3]); from ingest.parse.sandbox_worker import serve; serve()"
)


class ParseTimeoutError(DocumentParseError):
    """Parsing a file took longer than the sandbox's time limit."""


class ParseMemoryError(DocumentParseError):
    """Parsing a file needed more memory than the sandbox's limit."""


class ParserCrashedError(DocumentParseError):
    """The worker process died while parsing a file."""


class SandboxedParser:
    """Parses files in a worker process (see the module docstring).

    Args:
        timeout_s: wall time per file; None: ``TIMEOUT_S`` when called.
        memory_mb: address space a parse may add to the idle worker's; None: ``MEMORY_MB`` when called.
        target: the parse function the worker calls, ``(data, filename, media_type) -> ParsedDocument``;
            it must be importable by name (a module-level function). None: ``parse_bytes``.
    """

    def __init__(
        self, timeout_s: float | None = None, memory_mb: int | None = None, target: Target | None = None
    ) -> None:
        self.timeout_s, self.memory_mb, self.target = timeout_s, memory_mb, target
        self._lock = threading.Lock()
        self._worker: WorkerProcess | None = None
        _LIVE.add(self)

    @property
    def worker_pid(self) -> int | None:
        """The process id of the running worker, if one runs."""
        worker = self._worker
        return worker.process.pid if worker is not None and worker.alive() else None

    def parse(
        self,
        data: bytes,
        filename: str,
        media_type: str | None = None,
        *,
        timeout_s: float | None = None,
        memory_mb: int | None = None,
        password: str | None = None,
        on_progress: Callback | None = None,
    ) -> ParsedDocument:
        """Parse one file in the worker, as ``parse_bytes`` would; the limits override the parser's.

        Args:
            password: passed to ``parse_bytes`` (opens an encrypted file).
            on_progress: called here with ``(done, total, unit)`` for each report of the parser; an
                exception it raises stops the parse (its worker is killed) and propagates.

        Raises:
            what ``parse_bytes`` raises, and ParseTimeoutError, ParseMemoryError, ParserCrashedError.
        """
        timeout = timeout_s if timeout_s is not None else self.timeout_s if self.timeout_s is not None else TIMEOUT_S
        memory = memory_mb if memory_mb is not None else self.memory_mb if self.memory_mb is not None else MEMORY_MB
        with self._lock:
            worker = self._start()
            try:
                worker.outbox.send((self.target, data, filename, media_type, password, memory, timeout))
                kind, payload, records = self._answer(worker, filename, timeout, on_progress)
            except (EOFError, OSError):
                how = worker.how_it_ended() or "the worker process stopped answering"
                self._discard(kill=True)
                raise ParserCrashedError(
                    f"the parser stopped while reading {filename} ({how}); the file may be malformed: "
                    "check that it opens in a viewer"
                ) from None
            if kind == "memory":
                self._discard(kill=True)  # a fresh worker for the next file, its heap unfragmented
        for record in records:
            logger = logging.getLogger(record.name)
            if logger.isEnabledFor(record.levelno):
                logger.handle(record)
        return _result(kind, payload, filename, memory)

    def _answer(
        self, worker: WorkerProcess, filename: str, timeout: float, on_progress: Callback | None
    ) -> tuple[str, object, list]:
        """The worker's answer, passing its progress reports to ``on_progress`` on the way; the time limit
        grows with the units reported done (``sandbox_worker.time_limit``)."""
        started, done, unit = time.monotonic(), 0, "page"
        while True:
            left = started + sandbox_worker.time_limit(timeout, done) - time.monotonic()
            if not worker.inbox.poll(max(0.0, left)):
                self._discard(kill=True)
                raise ParseTimeoutError(_too_slow(filename, timeout, done, unit))
            kind, payload, records = worker.inbox.recv()
            if kind != "progress":
                return kind, payload, records
            done, unit = max(done, payload[0]), payload[2]
            if on_progress is not None:
                try:
                    on_progress(*payload)
                except BaseException:
                    self._discard(kill=True)  # the worker is mid-parse: stop it
                    raise

    def close(self) -> None:
        """Stop the worker (a later ``parse`` starts a new one)."""
        with self._lock:
            self._discard(kill=False)

    def _start(self) -> WorkerProcess:
        if self._worker is not None and not self._worker.alive():
            self._discard(kill=True)
        if self._worker is None:
            self._worker = WorkerProcess(["-c", _BOOT], [json.dumps(sys.path)], "the parsing worker process", STARTUP_S)
        return self._worker

    def _discard(self, kill: bool) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.stop(kill=kill)


_LIVE: weakref.WeakSet[SandboxedParser] = weakref.WeakSet()


def _too_slow(filename: str, timeout: float, done: int, unit: str) -> str:
    spent = f"{timeout:g} s to parse"
    if done:
        limit, per = sandbox_worker.time_limit(timeout, done), sandbox_worker.SECONDS_PER_UNIT
        spent = f"{limit:g} s to parse (the {timeout:g} s limit plus {per:g} s for each {unit} done: {done})"
    return (
        f"{filename} took longer than {spent}; it may be malformed or crafted to make the parser loop: "
        "check that it opens in a viewer, or split it into smaller files"
    )


def _result(kind: str, payload, filename: str, memory: int) -> ParsedDocument:
    """The document of an ``ok`` answer; any other answer raised as its error."""
    if kind == "ok":
        return payload
    if kind == "memory":
        raise ParseMemoryError(
            f"{filename} needed more than {memory:,} MB of memory to parse; it may be malformed or a "
            "decompression bomb: check that it opens in a viewer, or split it into smaller files"
        )
    if kind == "error":
        raise payload
    log.error("parsing %s failed in the worker:\n%s", filename, payload[1])
    raise DocumentParseError(
        f"{filename} could not be parsed ({payload[0]}); check that it opens in a viewer, "
        "or export it again (the server log has the details)"
    )


class ParserPool:
    """Sandboxed parsers shared by threads: each parse takes an idle one, or starts one while fewer than
    ``size`` exist, or waits for one to be free."""

    def __init__(self, size: int = POOL_SIZE) -> None:
        self.size = size
        self._idle: list[SandboxedParser] = []
        self._started = 0
        self._free = threading.Condition()

    def parse(self, data: bytes, filename: str, media_type: str | None = None, **options: Any) -> ParsedDocument:
        """``SandboxedParser.parse`` on a parser of the pool (``options``: its keyword arguments)."""
        with self._free:
            self._free.wait_for(lambda: self._idle or self._started < self.size)
            if self._idle:
                parser = self._idle.pop()
            else:
                parser = SandboxedParser()
                self._started += 1
        try:
            return parser.parse(data, filename, media_type, **options)
        finally:
            with self._free:
                self._idle.append(parser)  # the most recently used first: its worker is the one running
                self._free.notify()

    def close(self) -> None:
        """Stop the workers of the idle parsers (one in use stops its own at exit)."""
        with self._free:
            idle, self._idle = self._idle, []
            self._started -= len(idle)
        for parser in idle:
            parser.close()


_default: ParserPool | None = None
_default_lock = threading.Lock()


def default_pool() -> ParserPool:
    """The process's shared pool of sandboxed parsers (limits ``TIMEOUT_S`` and ``MEMORY_MB``)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = ParserPool()
        return _default


def parse_sandboxed(
    data: bytes,
    filename: str,
    media_type: str | None = None,
    timeout_s: float | None = None,
    memory_mb: int | None = None,
    *,
    password: str | None = None,
    on_progress: Callback | None = None,
) -> ParsedDocument:
    """``parse_bytes`` in a worker process of the shared pool, with a time and a memory limit (see the module
    docstring); ``on_progress(done, total, unit)`` is called here with the parser's progress reports."""
    options = {"timeout_s": timeout_s, "memory_mb": memory_mb, "password": password, "on_progress": on_progress}
    return default_pool().parse(data, filename, media_type, **options)


@atexit.register
def _close_all() -> None:
    for parser in list(_LIVE):
        parser.close()
