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
"""

from __future__ import annotations

import atexit
import json
import logging
import sys
import threading
import weakref
from collections.abc import Callable

from ingest.errors import DocumentParseError
from ingest.worker_process import WorkerProcess

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
    ) -> ParsedDocument:
        """Parse one file in the worker, as ``parse_bytes`` would; the limits override the parser's.

        Raises:
            what ``parse_bytes`` raises, and ParseTimeoutError, ParseMemoryError, ParserCrashedError.
        """
        timeout = timeout_s if timeout_s is not None else self.timeout_s if self.timeout_s is not None else TIMEOUT_S
        memory = memory_mb if memory_mb is not None else self.memory_mb if self.memory_mb is not None else MEMORY_MB
        with self._lock:
            worker = self._start()
            try:
                worker.outbox.send((self.target, data, filename, media_type, memory, timeout))
                if not worker.inbox.poll(timeout):
                    self._discard(kill=True)
                    raise ParseTimeoutError(
                        f"{filename} took longer than {timeout:g} s to parse; it may be malformed or crafted to "
                        "make the parser loop: check that it opens in a viewer, or split it into smaller files"
                    )
                kind, payload, records = worker.inbox.recv()
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


class ParserPool:
    """Sandboxed parsers shared by threads: each parse takes an idle one, or starts one while fewer than
    ``size`` exist, or waits for one to be free."""

    def __init__(self, size: int = POOL_SIZE) -> None:
        self.size = size
        self._idle: list[SandboxedParser] = []
        self._started = 0
        self._free = threading.Condition()

    def parse(
        self,
        data: bytes,
        filename: str,
        media_type: str | None = None,
        *,
        timeout_s: float | None = None,
        memory_mb: int | None = None,
    ) -> ParsedDocument:
        """``SandboxedParser.parse`` on a parser of the pool."""
        with self._free:
            self._free.wait_for(lambda: self._idle or self._started < self.size)
            if self._idle:
                parser = self._idle.pop()
            else:
                parser = SandboxedParser()
                self._started += 1
        try:
            return parser.parse(data, filename, media_type, timeout_s=timeout_s, memory_mb=memory_mb)
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
) -> ParsedDocument:
    """``parse_bytes`` in a worker process of the shared pool, with a time and a memory limit (see the module
    docstring)."""
    return default_pool().parse(data, filename, media_type, timeout_s=timeout_s, memory_mb=memory_mb)


@atexit.register
def _close_all() -> None:
    for parser in list(_LIVE):
        parser.close()
