"""Requests that wait (for the model, for a job) hold no thread: the rest of the API keeps answering meanwhile.

The model is a fake here (a generator that writes a token every few hundredths of
a second under one lock, as the torch generator decodes one answer at a time), and
the collection is empty and searched by BM25: no model loads.
"""

from __future__ import annotations

import asyncio
import threading
import time

import anyio
import httpx
import pytest

from api.answers import ANSWER_WORKERS
from api.app import create_app
from api.controllers.documents import finished
from rag.generate.base import GenerationResult, Generator
from rag.jobs.job import Job
from rag.platform import Platform
from tests.live import LiveServer

STREAMS = 20
TOKENS, TOKEN_SECONDS = 40, 0.05  # 2 s an answer: 20 answers take 40 s one after another
QUESTION = {"question": "Why is the sky blue?", "fusion": "bm25", "mode": "focus", "abstain": False}


class SlowGenerator(Generator):
    """A fake generator: one answer at a time (a lock, as the real model), a token every TOKEN_SECONDS."""

    name = "slow-fake"

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started = 0  # answers that got the model

    def generate(self, messages, config=None):
        return self.generate_streaming(messages, config, lambda piece: None)

    def generate_streaming(self, messages, config, on_text):
        with self.lock:
            self.started += 1
            for _ in range(TOKENS):
                time.sleep(TOKEN_SECONDS)
                on_text("word ")
        return GenerationResult("word " * TOKENS, 10, TOKENS, "stop")

    def count_tokens(self, text):
        return len(text.split())


@pytest.fixture
def served(settings):
    generator = SlowGenerator()
    platform = Platform(settings, generator=generator)
    platform.store.create_collection("sky", 384, "all-MiniLM-L6-v2", "Flat")  # no embedder needed: BM25 only
    with LiveServer(create_app(settings, platform=platform)) as live:
        yield live, generator
    platform.close()


class OpenStreams:
    """``n`` streamed questions, each held open (unread) on its own connection until ``close``."""

    def __init__(self, url: str, n: int) -> None:
        self.url, self.opened, self.stop = url, threading.Semaphore(0), threading.Event()
        self.threads = [threading.Thread(target=self._hold, daemon=True) for _ in range(n)]

    def _hold(self) -> None:
        with httpx.Client(timeout=120) as http:
            body = {**QUESTION, "stream": True}
            with http.stream("POST", f"{self.url}/v1/collections/sky/query", json=body) as r:
                assert r.status_code == 200
                self.opened.release()
                self.stop.wait(120)

    def __enter__(self) -> OpenStreams:
        for t in self.threads:
            t.start()
        for _ in self.threads:
            assert self.opened.acquire(timeout=60), "a stream did not open"
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)


def test_healthz_and_search_answer_at_once_while_twenty_answers_wait_for_the_model(served):
    live, generator = served
    with OpenStreams(live.url, STREAMS), httpx.Client(timeout=30) as http:
        slowest = 0.0
        for _ in range(5):
            started = time.monotonic()
            assert http.get(f"{live.url}/healthz").status_code == 200
            search = http.post(f"{live.url}/v1/collections/sky/search", json={"query": "sky", "fusion": "bm25"})
            assert search.status_code == 200, search.text
            slowest = max(slowest, time.monotonic() - started)
        # before: the streams' waits held the threads the key check runs on, and both waited tens of seconds
        assert slowest < 5.0, f"/healthz and a search took {slowest:.1f} s under {STREAMS} open streams"
        assert generator.started >= 1  # the streams were being answered meanwhile
    # The clients left: the answers still waiting for their turn never run (the running ones stop at a token);
    # a few may have got their turn while the server was noticing the others leave.
    time.sleep(2.0)
    assert generator.started <= ANSWER_WORKERS + STREAMS // 4, generator.started
    assert generator.lock.acquire(timeout=10)  # the model is free again
    generator.lock.release()


def test_an_upload_that_waits_for_its_job_holds_no_thread(settings):
    platform = Platform(settings)

    async def wait_for_jobs() -> tuple[int, list[int]]:
        queued = [Job(id=0, kind="ingest", status="queued", created_at="", collection="c") for _ in range(10)]
        jobs = [platform.jobs.create("ingest", None, job) for job in queued]
        waits = [asyncio.create_task(finished(platform, job)) for job in jobs]
        await asyncio.sleep(0.3)
        borrowed = anyio.to_thread.current_default_thread_limiter().borrowed_tokens
        for job in jobs:
            platform.jobs.update(job, status="done")
        responses = await asyncio.wait_for(asyncio.gather(*waits), 10)
        return borrowed, [r.status_code for r in responses]

    try:
        borrowed, statuses = asyncio.run(wait_for_jobs())
    finally:
        platform.close()
    assert statuses == [201] * 10
    assert borrowed == 0, f"{borrowed} threads held by uploads waiting for their jobs"
