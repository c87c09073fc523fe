"""The threads that wait for the model: answers (whole or streamed) and HyDE searches run here, and nowhere else.

The model decodes one answer at a time (the torch generator holds a lock for
a whole generation), so a request that needs it mostly waits. Answers used to
wait on the event loop's default executor, whose few threads (``min(32,
cores + 4)``: 6 on 2 cores) Litestar also runs the synchronous key check and
every synchronous handler on: 8 streamed answers held all six while they
waited for the model, and /healthz queued behind them for seconds.

Here a request that needs the model is queued for one of
:data:`ANSWER_WORKERS` threads of its own: while it waits it is a pending
future, not a blocked thread, so any number of waiting answers leave the
app's threads free, and one whose client leaves before its turn is cancelled
without ever running.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Generic, TypeVar

from rag.pipeline import AnswerCancelled

__all__ = ["ANSWERS", "ANSWER_WORKERS", "AnswerPool", "Outlet"]

T = TypeVar("T")

# Two, not one: an answer's retrieval and support checks (the embedder, no model) overlap another's decoding;
# more would only wait for the model's lock.
ANSWER_WORKERS = 2


class Outlet(Generic[T]):
    """Where a streamed answer's worker hands its items to the client; both calls raise AnswerCancelled once the
    client has gone (raised from a token, it stops the generation)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, items: asyncio.Queue, gone: threading.Event) -> None:
        self._loop, self._items, self._gone = loop, items, gone

    def check(self) -> None:
        if self._gone.is_set():
            raise AnswerCancelled("the client went away")

    def send(self, item: T) -> None:
        self.check()
        self._loop.call_soon_threadsafe(self._items.put_nowait, item)


class AnswerPool:
    """A few threads for work that needs the model; callers wait for their turn without holding a thread."""

    def __init__(self, workers: int = ANSWER_WORKERS) -> None:
        self.workers = workers
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="answer")

    def start(self, fn: Callable[..., T], *args) -> asyncio.Future[T]:
        """Queue ``fn(*args)``; cancelling the future before its turn means it never runs."""
        # in the caller's context, so the answer's log lines carry its request id (api.tracing)
        work = partial(contextvars.copy_context().run, fn, *args)
        return asyncio.get_running_loop().run_in_executor(self._executor, work)

    async def run(self, fn: Callable[..., T], *args) -> T:
        """``fn(*args)`` at its turn; a caller cancelled while it waits takes it out of the queue."""
        return await self.start(fn, *args)

    async def stream(self, produce: Callable[[Outlet[T]], None], log: logging.Logger) -> AsyncIterator[T]:
        """Run ``produce(outlet)`` at its turn and yield each item it sends, as it sends it.

        The worker never waits for the client: a slow reader only lets items pile up in
        the queue (an answer is at most a few hundred tokens), so the model is free as
        soon as the answer is written. When the client goes away, a ``produce`` still
        waiting for its turn never runs, and a running one gets AnswerCancelled from the
        outlet at its next token (``log``, the caller's, says so). Other errors are ``produce``'s to turn into items.
        """
        loop = asyncio.get_running_loop()
        items: asyncio.Queue = asyncio.Queue()
        gone = threading.Event()
        end = object()

        def work() -> None:
            if gone.is_set():  # its turn came as the client left
                return
            try:
                produce(Outlet(loop, items, gone))
            except AnswerCancelled:
                log.info("stopped an answer: the client went away")
            finally:
                loop.call_soon_threadsafe(items.put_nowait, end)

        worker = self.start(work)  # waits for its turn as a future: no thread is held meanwhile
        try:
            while (item := await items.get()) is not end:
                yield item
        finally:
            gone.set()  # the client went away (or the stream ended): stop the generation at its next token
            worker.cancel()  # still queued: it never runs
            # retrieve its outcome, so no "never retrieved" warning
            worker.add_done_callback(lambda f: f.cancelled() or f.exception())


# One pool per process, as there is one model per process (rag.generate.shared_generator): every app and
# platform of the process waits for the same lock.
ANSWERS = AnswerPool()
