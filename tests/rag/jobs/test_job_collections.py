"""Ingest jobs belong to a collection by id, and a replacement is one step on the document id."""

from __future__ import annotations

import pytest

from core.errors import ConflictError, NotFoundError
from rag.access import Grant
from rag.jobs import IngestJobs, Job, JobRunner
from rag.store import Store
from tests.rag.jobs.test_jobs import OTHER, TEXT, make_jobs

THIRD = b"A third version of the text, about lighthouses."


def queued_only(runner: JobRunner) -> None:
    """The worker never takes a job: it stays queued, as if the process stopped before it ran."""
    runner.submit = lambda *a, **k: None


def run_all(jobs: IngestJobs, job: Job) -> Job:
    """Every turn of ``job``, here (as the worker would take them)."""
    while jobs.run(job):
        pass
    return job


def documents(store: Store, name: str) -> list[int]:
    return [d.id for d in store.catalog.list_documents(store.catalog.get_collection(name).id)]


def test_every_ingest_job_records_the_id_of_its_collection(store):
    runner, jobs = make_jobs(store)
    job = runner.wait_final(jobs.submit("new", [("a.txt", TEXT, None)]).id)  # the upload creates "new"
    cid = store.catalog.get_collection("new").id
    assert job.collection_id == cid and store.catalog.get_job(job.id)["collection_id"] == cid
    assert [j.id for j in runner.list(collection_id=cid)] == [job.id]
    assert runner.list(collection_id=cid + 1) == []


@pytest.mark.parametrize("created_again", [True, False])
def test_a_job_whose_collection_was_deleted_stores_nothing_and_creates_nothing(tmp_path, created_again):
    s = Store(tmp_path / "data", default_index_spec="Flat")
    runner, jobs = make_jobs(s)
    runner.wait_final(jobs.submit("c", [("a.txt", TEXT, None)]).id)
    queued_only(runner)
    job = jobs.submit("c", [("b.txt", OTHER, None)])
    s.close()  # the server stops; another process deletes "c" (and maybe creates "c" anew for someone else)

    s = Store(tmp_path / "data", default_index_spec="Flat")
    s.delete_collection(s.catalog.get_collection("c"))
    if created_again:
        s.create_collection("c", 8, "fake-hash")
    runner, jobs = make_jobs(s)
    assert jobs.resume() == 1
    job = runner.wait_final(job.id)
    assert job.status == "failed" and "collection 'c' was deleted while this upload was queued" in job.error
    if created_again:
        assert documents(s, "c") == []  # not the other tenant's document
    else:
        assert s.catalog.find_collection("c") is None  # not brought back
    s.close()


def test_an_upload_sent_with_a_key_of_a_collection_deleted_meanwhile_is_refused(store):
    runner, jobs = make_jobs(store)
    runner.wait_final(jobs.submit("c", [("a.txt", TEXT, None)]).id)
    key = Grant(collection_id=store.catalog.get_collection("c").id, scope="write")  # checked as the request came
    store.delete_collection(store.catalog.get_collection("c"))  # while its body was read
    store.create_collection("c", 8, "fake-hash")
    with pytest.raises(NotFoundError, match="was deleted while this upload was sent"):
        jobs.submit("c", [("b.txt", OTHER, None)], grant=key)
    with pytest.raises(NotFoundError, match="was deleted while this upload was sent"):
        jobs.submit("gone", [("b.txt", OTHER, None)], grant=key)  # nor may it create a collection
    assert documents(store, "c") == [] and store.catalog.find_collection("gone") is None
    assert len(store.catalog.list_jobs()) == 1


def test_a_collection_is_not_deleted_while_a_job_is_queued_on_it(store):
    runner, jobs = make_jobs(store)
    queued_only(runner)
    job = jobs.submit("c", [("a.txt", TEXT, None)])
    coll = store.catalog.get_collection("c")
    with pytest.raises(ConflictError, match=f"ingest job {job.id} is still writing"):
        with jobs.deleting(coll):
            store.delete_collection(coll)
    run_all(jobs, job)
    with jobs.deleting(coll):
        with pytest.raises(ConflictError, match="is being deleted"):
            jobs.submit("c", [("b.txt", OTHER, None)])
        store.delete_collection(coll)
    assert store.catalog.find_collection("c") is None


def test_a_second_replacement_of_a_document_is_refused_while_the_first_is_pending(store):
    runner, jobs = make_jobs(store)
    old = runner.wait_final(jobs.submit("c", [("a.txt", TEXT, None)]).id).files[0].document_id
    queued_only(runner)
    first = jobs.submit("c", [("a2.txt", OTHER, None)], replace=old)
    with pytest.raises(ConflictError, match=f"document {old} is already being replaced by job {first.id}"):
        jobs.submit("c", [("a3.txt", THIRD, None)], replace=old)
    run_all(jobs, first)
    assert first.status == "done" and first.result == {"replaced": old}
    assert documents(store, "c") == [first.files[0].document_id]  # one document in place of the original


def test_a_replacement_whose_document_was_deleted_before_it_ran_stores_nothing(store):
    runner, jobs = make_jobs(store)
    old = runner.wait_final(jobs.submit("c", [("a.txt", TEXT, None)]).id).files[0].document_id
    queued_only(runner)
    job = jobs.submit("c", [("a2.txt", OTHER, None)], replace=old)
    store.delete_documents(store.catalog.get_collection("c"), [old])  # DELETE /documents/{old} meanwhile
    run_all(jobs, job)
    assert job.status == "failed" and f"document {old} was deleted while its replacement was queued" in job.error
    assert documents(store, "c") == []


def test_a_replacement_whose_document_went_while_it_ran_keeps_nothing(store, monkeypatch):
    runner, jobs = make_jobs(store)
    old = runner.wait_final(jobs.submit("c", [("a.txt", TEXT, None)]).id).files[0].document_id
    pipeline = jobs.pipeline()
    commit = pipeline.commit_batch

    def commit_then_a_rival_deletes_the_old_one(*args, **kwargs):
        out = commit(*args, **kwargs)
        store.delete_documents(store.catalog.get_collection("c"), [old])  # another replacement's, or a DELETE
        return out

    monkeypatch.setattr(pipeline, "commit_batch", commit_then_a_rival_deletes_the_old_one)
    job = runner.wait_final(jobs.submit("c", [("a2.txt", OTHER, None)], replace=old).id)
    assert job.status == "failed" and "was deleted or replaced while this replacement ran" in job.files[0].error
    assert job.files[0].document_id is None and documents(store, "c") == []


def test_a_replacement_stopped_after_the_old_document_went_keeps_the_new_one(tmp_path, monkeypatch):
    s = Store(tmp_path / "data", default_index_spec="Flat")
    runner, jobs = make_jobs(s)
    old = runner.wait_final(jobs.submit("c", [("a.txt", TEXT, None)]).id).files[0].document_id
    queued_only(runner)
    job = jobs.submit("c", [("a2.txt", OTHER, None)], replace=old)
    replace = s.replace_document

    def replace_then_stop(*args):
        replace(*args)
        raise KeyboardInterrupt  # the process dies before the job is recorded as done

    monkeypatch.setattr(s, "replace_document", replace_then_stop)
    with pytest.raises(KeyboardInterrupt):
        run_all(jobs, job)
    new = job.files[0].document_id
    s.close()

    s = Store(tmp_path / "data", default_index_spec="Flat")
    runner, jobs = make_jobs(s)
    assert jobs.resume() == 1
    done = runner.wait_final(job.id)
    assert done.status == "done" and done.result == {"replaced": old}
    assert documents(s, "c") == [new]
    s.close()
