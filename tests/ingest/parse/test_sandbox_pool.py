"""The shared pool of sandboxed parsers: a file that takes the whole time limit holds only its own worker."""

from __future__ import annotations

import threading
import time

from ingest.parse.sandbox import ParserPool, ParseTimeoutError
from tests.fixtures.hostile.make import looping_pdf

LIMIT_S = 8.0


def test_a_looping_file_holds_its_own_worker_and_another_thread_parses_meanwhile():
    pool = ParserPool(size=2)
    outcome = {}

    def parse_the_looping_pdf():
        try:
            pool.parse(looping_pdf(), "loop.pdf", timeout_s=LIMIT_S)
        except ParseTimeoutError as exc:
            outcome["slow"] = exc

    slow = threading.Thread(target=parse_the_looping_pdf)
    try:
        slow.start()
        time.sleep(0.5)  # it has taken its parser (its worker may still be starting)
        started = time.monotonic()
        doc = pool.parse(b"A one-line note.", "note.txt", timeout_s=LIMIT_S)
        took = time.monotonic() - started
        assert doc.text == "A one-line note." and slow.is_alive(), took  # not behind the looping file
        slow.join(2 * LIMIT_S)
        assert "took longer than" in str(outcome["slow"])
        assert pool.parse(b"Next.", "next.txt").text == "Next."  # the pool recovers: a fresh worker
    finally:
        slow.join()
        pool.close()
