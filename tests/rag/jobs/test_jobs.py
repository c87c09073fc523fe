"""The job runner and ingest jobs, with the real ingest pipeline over a fake (hash) embedder."""

from __future__ import annotations

import threading

import pytest

from core.errors import ConflictError, InvalidInputError, NotFoundError
from ingest.chunk import Chunker
from ingest.embed import load_tokenizer
from rag.jobs import IngestJobs, Job, JobRunner
from rag.pipeline.ingest import IngestPipeline
from rag.store import Store
from tests.rag.pipeline.test_ingest import HashEmbedder

TEXT = b"Descale the espresso machine every month with citric acid."
OTHER = b"Zebras live in herds on the African savanna."


def make_jobs(store: Store) -> tuple[JobRunner, IngestJobs]:
    runner = JobRunner(store.catalog)
    pipeline = IngestPipeline(store, HashEmbedder("fake-hash", 1), Chunker(load_tokenizer(), 64, 8), 1 << 20)
    return runner, IngestJobs(runner, store, lambda: pipeline)


def new_job(runner: JobRunner, kind: str = "benchmark") -> Job:
    return runner.create(kind, None, Job(0, kind, "running", ""))


def test_a_lane_runs_jobs_in_turn_and_records_failures(store):
    runner = JobRunner(store.catalog)
    order, gate = [], threading.Event()

    def slow(job):
        gate.wait(10)
        order.append(job.id)
        runner.update(job, status="done")

    def broken(job):
        raise RuntimeError("disk on fire")

    first, second = new_job(runner), new_job(runner)
    runner.submit("lane", first, slow)
    runner.submit("lane", second, broken)
    with pytest.raises(ConflictError, match="already running"):
        runner.submit("lane", new_job(runner), slow, exclusive=True)
    gate.set()
    assert runner.wait_final(first.id).status == "done" and order == [first.id]
    failed = runner.wait_final(second.id)
    assert failed.status == "failed" and failed.error == "RuntimeError: disk on fire"
    row = store.catalog.get_job(second.id)  # the state outlives the process
    assert row["status"] == "failed" and row["finished_at"] is not None
    listed = [j.id for j in runner.list()]
    assert listed.index(second.id) < listed.index(first.id)  # newest first


def test_watchers_wake_on_every_change(store):
    runner = JobRunner(store.catalog)
    job = new_job(runner)
    seen = job.version
    threading.Timer(0.05, lambda: runner.update(job, persist=False, chunks_embedded=7)).start()
    assert runner.wait(job.id, seen, timeout=10).chunks_embedded == 7


def test_an_ingest_job_stores_good_files_and_names_bad_ones(store):
    runner, jobs = make_jobs(store)
    job = jobs.submit("c", [("a.txt", TEXT, None), ("b.pdf", b"%PDF-1.4 broken", None), ("c.txt", OTHER, None)])
    job = runner.wait_final(job.id)
    assert [f.state for f in job.files] == ["done", "failed", "done"]
    assert job.status == "failed" and job.error.startswith("1 of 3 files could not be ingested: b.pdf")
    assert store.catalog.count("documents", store.catalog.get_collection("c").id) == 2
    assert not jobs.folder(job.id).exists()
    again = runner.wait_final(jobs.submit("c", [("copy.txt", TEXT, None)]).id)
    assert again.status == "done" and again.files[0].state == "duplicate"
    assert again.files[0].document_id == job.files[0].document_id


def test_submit_checks_before_anything_is_saved(store):
    runner, jobs = make_jobs(store)
    with pytest.raises(InvalidInputError, match="empty"):
        jobs.submit("c", [("a.txt", TEXT, None), ("empty.txt", b"   ", None)])
    with pytest.raises(InvalidInputError, match="invalid collection name"):
        jobs.submit("bad name!", [("a.txt", TEXT, None)])
    with pytest.raises(NotFoundError):
        jobs.submit("c", [("a.txt", TEXT, None)], replace=99)
    assert store.catalog.list_jobs() == [] and not any(jobs.root.glob("*")) if jobs.root.exists() else True


def test_a_replacement_deletes_the_old_document_once_the_new_one_is_stored(store):
    runner, jobs = make_jobs(store)
    old = runner.wait_final(jobs.submit("c", [("a.txt", TEXT, None)]).id).files[0].document_id
    new = runner.wait_final(jobs.submit("c", [("a2.txt", OTHER, None)], replace=old).id)
    assert new.status == "done" and new.result == {"replaced": old}
    coll = store.catalog.get_collection("c")
    assert [d.id for d in store.catalog.list_documents(coll.id)] == [new.files[0].document_id]
    with pytest.raises(InvalidInputError, match="one file"):
        jobs.submit("c", [("x.txt", TEXT, None), ("y.txt", OTHER, None)], replace=new.files[0].document_id)


def test_a_job_left_by_a_stopped_process_resumes_or_fails_with_its_reason(tmp_path):
    store = Store(tmp_path / "data", default_index_spec="Flat")
    runner, jobs = make_jobs(store)
    runner.submit = lambda *a, **k: None  # the process "stops" before its worker takes the job
    saved = jobs.submit("c", [("a.txt", TEXT, None), ("b.txt", OTHER, None)])
    lost = jobs.submit("c", [("c.txt", b"Some other text entirely.", None)])
    (jobs.folder(lost.id) / "0.upload").unlink()  # its upload never reached the disk
    bench = store.catalog.start_job("benchmark", None, {})
    store.close()

    store = Store(tmp_path / "data", default_index_spec="Flat")
    store.recover()
    assert store.catalog.get_job(bench)["status"] == "failed"  # not resumable: failed with the reason
    assert store.catalog.get_job(saved.id)["status"] == "queued"  # left for the job runner
    runner, jobs = make_jobs(store)
    assert jobs.resume() == 1
    done = runner.wait_final(saved.id)
    assert done.status == "done" and [f.state for f in done.files] == ["done", "done"]
    failed = runner.get(lost.id)
    assert failed.status == "failed" and "upload them again" in failed.error
    assert store.catalog.count("documents", store.catalog.get_collection("c").id) == 2
    store.close()


def test_closing_the_runner_stops_a_job_between_batches_for_the_next_start(store, monkeypatch):
    import rag.jobs.ingest_turns as ingest_turns

    monkeypatch.setattr(ingest_turns, "BATCH", 1)
    runner, jobs = make_jobs(store)
    pipeline = jobs.pipeline()
    first_batch_done = threading.Event()
    commit = pipeline.commit_batch

    def commit_then_close(*args, **kwargs):
        out = commit(*args, **kwargs)
        runner._stopping.set()  # as close() does, while the job runs
        first_batch_done.set()
        return out

    monkeypatch.setattr(pipeline, "commit_batch", commit_then_close)
    job = jobs.submit("c", [("a.txt", TEXT, None), ("b.txt", OTHER, None)])
    assert first_batch_done.wait(30)
    runner.close()
    assert [f.state for f in job.files] == ["done", "queued"] and not job.final
    assert store.catalog.get_job(job.id)["status"] not in ("done", "failed")  # resumed by the next start
