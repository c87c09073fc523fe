"""Jobs through the REST app with keys enforced: a job belongs to its collection's id, a job a key may not read
is answered as a missing one, and a full upload queue is a 429."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient

from api.app import create_app
from rag.platform import Platform

pytestmark = pytest.mark.slow  # the uploads embed with the real model

ADMIN = {"Authorization": "Bearer admin-secret-for-job-tests"}
TEXT = b"Descale the espresso machine every month with citric acid."


@pytest.fixture(scope="module")
def client(tmp_path_factory, embedder):
    from rag.settings import Settings

    data = tmp_path_factory.mktemp("jobs-access") / "data"
    settings = Settings.from_env().replace(data_dir=data, admin_key=ADMIN["Authorization"].split()[1])
    platform = Platform(settings)
    with TestClient(app=create_app(settings, platform=platform)) as c:
        yield c
    platform.close()


def collection_with_a_job(client, name: str, text: bytes = TEXT) -> int:
    """Create ``name``, store one file in it, and return the id of the upload's job."""
    assert client.post("/v1/collections", json={"name": name}, headers=ADMIN).status_code == 201
    files = [("files", ("e.txt", text, "text/plain"))]
    r = client.post(f"/v1/collections/{name}/documents?wait=true", files=files, headers=ADMIN)
    assert r.status_code == 201, r.text
    return r.json()["job_id"]


def key_of(client, name: str, scope: str = "read") -> dict:
    r = client.post(f"/v1/collections/{name}/keys", json={"scope": scope}, headers=ADMIN)
    return {"Authorization": f"Bearer {r.json()['key']}"}


def test_a_job_belongs_to_its_collection_not_to_a_later_one_of_its_name(client):
    job = collection_with_a_job(client, "reused")
    assert client.delete("/v1/collections/reused", headers=ADMIN).status_code == 200
    assert client.post("/v1/collections", json={"name": "reused"}, headers=ADMIN).status_code == 201
    key = key_of(client, "reused")  # a key of the new collection of that name
    for path in (f"/v1/jobs/{job}", f"/v1/jobs/{job}/events"):
        r = client.get(path, headers=key)
        assert r.status_code == 404 and r.json()["error"]["message"] == f"job {job} does not exist", r.text
    assert job not in [j["id"] for j in client.get("/v1/jobs", headers=key).json()["jobs"]]
    assert client.get(f"/v1/jobs/{job}", headers=ADMIN).json()["collection"] == "reused"  # the admin sees it


def test_another_collections_job_is_answered_as_a_missing_one(client):
    theirs = collection_with_a_job(client, "theirs", b"Zebras live in herds on the savanna.")
    mine = collection_with_a_job(client, "mine", b"Lighthouses guide ships at night.")
    key = key_of(client, "mine")
    assert client.get(f"/v1/jobs/{mine}", headers=key).status_code == 200
    answers = {}
    for job in (theirs, theirs + 1000):  # another collection's, and one that does not exist
        r = client.get(f"/v1/jobs/{job}", headers=key)
        answers[job] = (r.status_code, r.json()["error"]["code"], r.json()["error"]["message"])
    assert answers == {job: (404, "not_found", f"job {job} does not exist") for job in answers}
    assert client.get(f"/v1/jobs/{2**200}", headers=key).status_code == 404
    assert [j["id"] for j in client.get("/v1/jobs", headers=key).json()["jobs"]] == [mine]


def test_a_full_upload_queue_is_a_429_with_retry_after(client):
    assert client.post("/v1/collections", json={"name": "full"}, headers=ADMIN).status_code == 201
    admission = client.app.state.platform.ingest_jobs.admission
    admission.max_jobs, kept = 0, admission.max_jobs  # as if 20 jobs waited already
    try:
        r = client.post("/v1/collections/full/documents", files=[("files", ("e.txt", TEXT, "text/plain"))],
                        headers=key_of(client, "full", "write"))  # fmt: skip
    finally:
        admission.max_jobs = kept
    assert r.status_code == 429 and r.json()["error"]["code"] == "queue_full", r.text
    assert int(r.headers["retry-after"]) > 0 and "send this one again" in r.json()["error"]["message"]
