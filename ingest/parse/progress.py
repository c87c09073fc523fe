"""Progress of a slow parse: a parser reports units done, whoever started the parse listens.

OCR reads a page in one to three seconds, so a 100-page scan takes minutes; the
job running it shows "page 37 of 100" instead of a frozen bar. A parser calls
``report(done, total)`` after each slow unit; the call reaches the callback
installed for the current parse, and does nothing when none is:

- in this process, ``with reporting(callback): parse_bytes(...)``;
- through the sandbox, ``parse_sandboxed(..., on_progress=callback)``: the
  worker installs a callback that sends each report over its pipe, and the
  parent calls ``on_progress`` with it.

A report also buys time: the sandbox's time limit grows by
``sandbox_worker.SECONDS_PER_UNIT`` for each unit reported done (up to
``ocr.MAX_PAGES`` of them), so report only units of real, bounded work (a page
read by OCR), never a loop's iterations.

Example:
    >>> seen = []
    >>> with reporting(lambda done, total, unit: seen.append((done, total, unit))):
    ...     report(1, 3)
    >>> seen
    [(1, 3, 'page')]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

Callback = Callable[[int, int, str], None]  # (done, total, unit)

_current: ContextVar[Callback | None] = ContextVar("parse_progress", default=None)


def report(done: int, total: int, unit: str = "page") -> None:
    """Tell the current parse's listener that ``done`` of ``total`` units are done; a no-op without one."""
    callback = _current.get()
    if callback is not None:
        callback(done, total, unit)


@contextmanager
def reporting(callback: Callback | None) -> Iterator[None]:
    """Send the reports of parses run inside the block (in this thread or task) to ``callback``."""
    token = _current.set(callback)
    try:
        yield
    finally:
        _current.reset(token)
