"""An ingest job's progress moves per embedded batch (not per file), with a chunk total and an estimate."""

from __future__ import annotations

import time

import pytest

from ingest.chunk import Chunker
from ingest.embed import Embedder, load_tokenizer
from rag.jobs import IngestJobs, JobRunner
from rag.jobs.job import EmbedRate, FileState, Job
from rag.pipeline.ingest import IngestPipeline

SENTENCE = "The espresso machine needs descaling with citric acid every month to keep its boiler clean. "


def test_the_estimate_is_chunks_left_over_the_recent_rate():
    job = Job(1, "ingest", "embedding", "", files=[FileState("a.txt", 1000), FileState("b.txt", 1000)])
    job.files[0].state = "embedding"
    rate = EmbedRate()
    assert job.progress()["eta_seconds"] is None  # nothing embedded yet
    job.chunks_total, job.bytes_chunked = 40, 1000
    rate.add(0, now=0.0)
    assert job.estimate(rate) is None  # one sample: no speed yet
    job.chunks_embedded = 10
    rate.add(10, now=2.0)
    # 30 chunks left of the first file, and b.txt's 1000 bytes guessed at 40 chunks: 70 at 5 chunks/s
    assert job.estimate(rate) == pytest.approx(14.0)
    job.files[0].state, job.status = "done", "done"
    assert job.progress()["eta_seconds"] == 0.0 and job.progress()["files_searchable"] == 1


@pytest.mark.slow  # loads MiniLM
def test_chunks_embedded_rises_batch_by_batch_before_the_first_file_is_done(store):
    runner = JobRunner(store.catalog)
    embedder = Embedder(batch_size=1)  # one text per forward pass: 8 per progress report
    pipeline = IngestPipeline(store, embedder, Chunker(load_tokenizer(), 32, 0), 1 << 20)
    jobs = IngestJobs(runner, store, lambda: pipeline)
    files = [(f"f{i}.txt", (f"File {i}. " + SENTENCE * 12).encode(), None) for i in range(3)]
    job = jobs.submit("c", files)
    seen, version, deadline = [], -1, time.monotonic() + 300
    while not job.final and time.monotonic() < deadline:
        job = runner.wait(job.id, version, timeout=5)
        version = job.version
        seen.append(dict(job.progress()))
    assert job.status == "done", job.error
    before_done = [p for p in seen if p["files_searchable"] == 0 and p["files_done"] == 0]
    embedded = sorted({p["chunks_embedded"] for p in before_done} - {0})
    assert len(embedded) >= 3, seen  # several steps inside the batch of files, before any is stored
    assert all(p["chunks_total"] == job.chunks_total for p in before_done if p["chunks_embedded"])
    assert any(p["eta_seconds"] is not None and p["eta_seconds"] > 0 for p in before_done)
    final = job.progress()
    assert final["chunks_embedded"] == final["chunks_total"] == sum(f.n_chunks for f in job.files) > 16
    assert final["files_searchable"] == 3 and final["eta_seconds"] == 0.0
