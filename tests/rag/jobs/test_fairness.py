"""Fair turns between collections: the runner's lanes, the ingest queue's caps, and a looping PDF beside a
one-line upload (the real sandboxed parser, a fake embedder)."""

from __future__ import annotations

import threading
import time

import pytest

from ingest.parse import sandbox
from rag.jobs import Job, JobRunner, QueueFullError
from tests.fixtures.hostile.make import looping_pdf
from tests.rag.jobs.test_jobs import OTHER, TEXT, make_jobs


def ingest_job(runner: JobRunner, collection_id: int) -> Job:
    return runner.create("ingest", collection_id, Job(0, "ingest", "queued", "", collection=f"c{collection_id}"))


def final_within(runner: JobRunner, job: Job, seconds: float) -> bool:
    """Whether ``job`` is final within ``seconds`` (watching it without holding the test forever)."""
    deadline = time.monotonic() + seconds
    while not job.final and time.monotonic() < deadline:
        runner.wait(job.id, job.version, timeout=deadline - time.monotonic())
    return job.final


def test_collections_take_turns_and_a_job_gives_back_its_turn_between_steps(store):
    runner = JobRunner(store.catalog)  # a lane other than ingest: one worker
    gate, order = threading.Event(), []

    def blocker(job):
        gate.wait(30)
        runner.update(job, status="done")

    def step(steps: int):
        def work(job):
            order.append(job.id)
            if order.count(job.id) < steps:
                return True  # more to do: again at its collection's next turn
            runner.update(job, status="done")

        return work

    first = ingest_job(runner, 9)
    runner.submit("lane", first, blocker)
    a1, a2, b1, c1 = ingest_job(runner, 1), ingest_job(runner, 1), ingest_job(runner, 2), ingest_job(runner, 3)
    runner.submit("lane", a1, step(3))  # three turns
    runner.submit("lane", a2, step(1))
    runner.submit("lane", b1, step(1))
    runner.submit("lane", c1, step(2))
    gate.set()
    for job in (a1, a2, b1, c1):
        assert final_within(runner, job, 30)
    # Round-robin over collections; a1 keeps its place at the head of its collection between its turns.
    assert order == [a1.id, b1.id, c1.id, a1.id, c1.id, a1.id, a2.id]


def test_one_collection_holds_one_ingest_worker_and_the_other_serves_the_rest(store):
    runner = JobRunner(store.catalog)
    gate, started = threading.Event(), []

    def held(job):
        started.append(job.id)
        gate.wait(30)
        runner.update(job, status="done")

    def quick(job):
        started.append(job.id)
        runner.update(job, status="done")

    a1, a2, b1 = ingest_job(runner, 1), ingest_job(runner, 1), ingest_job(runner, 2)
    runner.submit("ingest", a1, held)
    runner.submit("ingest", a2, held)
    runner.submit("ingest", b1, quick)
    assert final_within(runner, b1, 20)  # while a1 holds its worker
    assert started == [a1.id, b1.id] and not a1.final  # a2 waits for a1, though a worker is free
    gate.set()
    assert final_within(runner, a2, 20) and started == [a1.id, b1.id, a2.id]


@pytest.mark.slow  # about 20 s of a busy parser process
def test_a_one_line_upload_is_not_held_behind_another_collections_looping_pdf(store, monkeypatch):
    limit = 20.0
    monkeypatch.setattr(sandbox, "TIMEOUT_S", limit)  # the server's is 60 s
    runner, jobs = make_jobs(store)
    slow = jobs.submit("attacker", [("loop.pdf", looping_pdf(), None)])
    deadline = time.monotonic() + 30
    while slow.files[0].state != "parsing" and time.monotonic() < deadline:
        runner.wait(slow.id, slow.version, timeout=1)
    assert slow.files[0].state == "parsing"
    started = time.monotonic()
    quick = jobs.submit("victim", [("note.txt", TEXT, None)])
    assert final_within(runner, quick, limit - 2)  # before the looping file's time is up
    waited = time.monotonic() - started
    assert quick.status == "done" and not slow.final, (waited, slow.status)
    assert final_within(runner, slow, 60)
    assert slow.status == "failed" and f"took longer than {limit:g} s" in slow.files[0].error


def test_a_full_queue_refuses_uploads_of_that_collection_only(store):
    runner, jobs = make_jobs(store)
    jobs.admission.max_jobs = 2
    jobs.max_queued_bytes = 3 * len(TEXT) // 2
    runner.submit = lambda *a, **k: None  # the worker never takes them: they wait
    jobs.submit("a", [("1.txt", TEXT, None)])
    with pytest.raises(QueueFullError, match=f"has {len(TEXT)} bytes of uploads waiting") as full:
        jobs.submit("a", [("2.txt", OTHER, None)])  # its bytes would pass the cap
    assert full.value.retry_after_s > 0
    jobs.max_queued_bytes = None  # QUEUED_UPLOADS of the largest uploads
    jobs.submit("a", [("2.txt", OTHER, None)])
    with pytest.raises(QueueFullError, match="has 2 upload jobs queued or running"):
        jobs.submit("a", [("3.txt", b"A third text.", None)])
    jobs.submit("b", [("1.txt", TEXT, None)])  # another collection's queue has room
    jobs.max_queued_bytes = 10
    jobs.submit("c", [("big.txt", TEXT, None)])  # a lone upload is never refused for its size
    assert [len(runner.active(store.catalog.get_collection(n).id)) for n in "abc"] == [2, 1, 1]
    assert not any(p.name.startswith(".staging") for p in jobs.root.iterdir())  # refused: nothing saved
