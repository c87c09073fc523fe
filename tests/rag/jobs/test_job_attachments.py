"""Ingest jobs of messages, encrypted files and scans: attachments linked or skipped with a reason, the
password held in memory only, and OCR pages reported as the job's progress."""

from __future__ import annotations

import json
import shutil
import time
from email.message import EmailMessage

import pytest

from ingest.chunk import Chunker
from ingest.embed import load_tokenizer
from rag.jobs import IngestJobs, JobRunner
from rag.pipeline.ingest import IngestPipeline
from tests.conftest import shared_path

pytestmark = pytest.mark.slow  # loads the embedding model


@pytest.fixture
def jobs(store, embedder):
    runner = JobRunner(store.catalog)
    pipeline = IngestPipeline(store, embedder, Chunker(load_tokenizer(), 64, 8), 8 << 20)
    yield IngestJobs(runner, store, lambda: pipeline)
    runner.close()


def run(jobs: IngestJobs, files, **how):
    """Submit a job and follow it to its end; returns it and every progress it reported."""
    job = jobs.submit("c", files, **how)
    seen, version, deadline = [], -1, time.monotonic() + 300
    while not job.final and time.monotonic() < deadline:
        job = jobs.runner.wait(job.id, version, timeout=5)
        version = job.version
        seen.append(dict(job.progress()))
    return job, seen


def message_with(*attachments: tuple[str, bytes, str]) -> bytes:
    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = "Harbour minutes", "clerk@example.org", "board@example.org"
    msg.set_content("The minutes of the harbour board meeting are attached.")
    for name, data, media in attachments:
        main, sub = media.split("/")
        msg.add_attachment(data, maintype=main, subtype=sub, filename=name)
    return msg.as_bytes()


def test_a_messages_attachments_are_stored_linked_or_skipped_and_deleted_with_it(jobs, store):
    notes = b"The ferry timetable changes on the first of May."
    eml = message_with(
        ("notes.txt", notes, "text/plain"), ("archive.zip", b"PK\x03\x04" + b"\0" * 60, "application/zip")
    )
    job, _ = run(jobs, [("minutes.eml", eml, None)])
    assert job.status == "done", job.error
    (f,) = job.files
    states = {a["filename"]: a for a in f.attachments}
    assert set(states) == {"minutes.eml/notes.txt", "minutes.eml/archive.zip"}
    stored, skipped = states["minutes.eml/notes.txt"], states["minutes.eml/archive.zip"]
    assert stored["state"] == "done" and stored["n_chunks"] >= 1
    assert skipped["state"] == "skipped" and ".zip" in skipped["reason"]  # the message is stored all the same
    collection = store.catalog.get_collection("c")
    docs = {d.filename: d for d in store.catalog.list_documents(collection.id)}
    assert docs["minutes.eml/notes.txt"].parent_id == f.document_id == docs["minutes.eml"].id
    (hit,) = store.search_text(collection, ["ferry timetable May"], 1)[0]
    assert hit.filename == "minutes.eml/notes.txt"
    assert store.delete_documents(collection, [f.document_id]) > 0
    assert store.catalog.list_documents(collection.id) == []


def test_the_password_opens_an_encrypted_file_and_is_kept_nowhere(jobs, store):
    path = shared_path("documents-more", "apache_tika", "testWORD_protected_passtika.docx")
    data = path.read_bytes()
    refused, _ = run(jobs, [(path.name, data, None)])
    assert refused.status == "failed" and "password" in refused.files[0].error.lower()
    job, _ = run(jobs, [(path.name, data, None)], password="tika")
    assert job.status == "done", job.error
    assert job.id not in jobs.passwords  # held for the job only
    row = store.catalog.get_job(job.id)
    kept = json.dumps({k: str(v) for k, v in row.items()}).replace(path.name, "")
    assert "tika" not in kept and "tika" not in json.dumps(job.as_dict()).replace(path.name, "")


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="Tesseract is not installed")
def test_ocr_pages_are_reported_as_the_jobs_progress(jobs, store):
    path = shared_path("documents-more", "ocrmypdf", "c02-22.pdf")
    job, seen = run(jobs, [(path.name, path.read_bytes(), None)])
    assert job.status == "done", job.error
    reading = [p["reading"] for p in seen if p.get("reading")]
    assert reading, seen
    assert all(r["filename"] == path.name and r["unit"] == "page" and 0 <= r["done"] <= r["total"] for r in reading)
    assert job.progress()["reading"] is None  # a finished job reads nothing
    collection = store.catalog.get_collection("c")
    chunks = store.catalog.get_document(collection.id, job.files[0].document_id).chunks
    assert chunks and all(c.ocr_confidence is not None and c.page for c in chunks)
