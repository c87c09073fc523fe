"""The catalog's job rows: state and detail, listing, and what a stopped process left (see test_catalog.py)."""

from __future__ import annotations

import json

import pytest

from core.errors import NotFoundError
from rag.store.catalog.jobs import INTERRUPTED
from tests.rag.store.test_catalog import _collection

# -- jobs ------------------------------------------------------------------------


def test_a_job_keeps_its_state_and_detail_and_finishing_merges_the_detail(catalog):
    coll = _collection(catalog)
    job = catalog.start_job("ingest", coll.id, {"files": ["a.pdf"], "done": 0}, status="queued")
    row = catalog.get_job(job)
    assert (row["kind"], row["collection_id"], row["status"], row["error"]) == ("ingest", coll.id, "queued", None)
    assert json.loads(row["detail"]) == {"files": ["a.pdf"], "done": 0}
    assert row["created_at"] is not None and row["finished_at"] is None

    catalog.update_job(job, "embedding", {"files": ["a.pdf"], "done": 1})  # the whole detail, replaced
    row = catalog.get_job(job)
    assert row["status"] == "embedding" and row["finished_at"] is None
    assert json.loads(row["detail"]) == {"files": ["a.pdf"], "done": 1}

    catalog.finish_job(job, "done", {"done": 2, "chunks": 7})  # merged into what it has
    row = catalog.get_job(job)
    assert row["status"] == "done" and row["finished_at"] is not None and row["error"] is None
    assert json.loads(row["detail"]) == {"files": ["a.pdf"], "done": 2, "chunks": 7}


def test_finishing_without_detail_keeps_it_and_a_final_update_stamps_the_end(catalog):
    job = catalog.start_job("benchmark", None, {"dataset": "scifact"})
    catalog.finish_job(job, "failed", error="out of memory")
    row = catalog.get_job(job)
    assert (row["status"], row["error"]) == ("failed", "out of memory")
    assert json.loads(row["detail"]) == {"dataset": "scifact"} and row["finished_at"] is not None

    other = catalog.start_job("benchmark", None, {})
    catalog.update_job(other, "done", {"ndcg": 0.7})
    row = catalog.get_job(other)
    assert row["status"] == "done" and row["finished_at"] is not None
    assert json.loads(row["detail"]) == {"ndcg": 0.7}


def test_a_missing_job_is_not_found(catalog):
    with pytest.raises(NotFoundError, match="job 42 does not exist"):
        catalog.get_job(42)


def test_jobs_are_listed_newest_first_by_kind_and_state(catalog):
    a = catalog.start_job("ingest", None, {}, status="queued")
    b = catalog.start_job("benchmark", None, {})
    c = catalog.start_job("ingest", None, {}, status="queued")
    d = catalog.start_job("ingest", None, {}, status="queued")
    catalog.finish_job(c, "done")
    catalog.finish_job(b, "failed", error="x")

    assert [j["id"] for j in catalog.list_jobs()] == [d, c, b, a]
    assert [j["id"] for j in catalog.list_jobs(kind="ingest")] == [d, c, a]
    assert [j["id"] for j in catalog.list_jobs(kind="benchmark")] == [b]
    assert [j["id"] for j in catalog.list_jobs(unfinished=True)] == [d, a]
    assert [j["id"] for j in catalog.list_jobs(kind="benchmark", unfinished=True)] == []
    assert [j["id"] for j in catalog.list_jobs(limit=2)] == [d, c]
    assert catalog.list_jobs(kind="nothing") == []


def test_interrupted_jobs_fail_except_the_kinds_kept_for_their_runner(catalog):
    ingest = catalog.start_job("ingest", None, {"files": ["a.pdf"]}, status="parsing")
    bench = catalog.start_job("benchmark", None, {})
    queued = catalog.start_job("reindex", None, {}, status="queued")
    done = catalog.start_job("benchmark", None, {})
    catalog.finish_job(done, "done")
    failed = catalog.start_job("benchmark", None, {})
    catalog.finish_job(failed, "failed", error="its own error")

    assert catalog.fail_interrupted_jobs(keep_kinds=("ingest",)) == 2
    for job in (bench, queued):
        row = catalog.get_job(job)
        assert row["status"] == "failed" and row["error"] == INTERRUPTED and row["finished_at"] is not None
        assert row["error"].startswith("interrupted")
    row = catalog.get_job(ingest)
    assert (row["status"], row["error"], row["finished_at"]) == ("parsing", None, None)
    assert (catalog.get_job(done)["status"], catalog.get_job(done)["error"]) == ("done", None)
    assert catalog.get_job(failed)["error"] == "its own error"  # a final job keeps its own outcome

    assert catalog.fail_interrupted_jobs(keep_kinds=("ingest",)) == 0  # nothing left but the kept kind
    assert catalog.fail_interrupted_jobs() == 1  # nothing kept: the ingest job fails too
    assert catalog.get_job(ingest)["status"] == "failed"
