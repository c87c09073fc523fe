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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

__all__ = ["ANSWERS", "ANSWER_WORKERS", "AnswerPool"]

T = TypeVar("T")

# Two, not one: an answer's retrieval and support checks (the embedder, no model) overlap another's decoding;
# more would only wait for the model's lock.
ANSWER_WORKERS = 2


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


# One pool per process, as there is one model per process (rag.generate.shared_generator): every app and
# platform of the process waits for the same lock.
ANSWERS = AnswerPool()
