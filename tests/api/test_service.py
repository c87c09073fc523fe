"""The service API: collections, ingest jobs with progress events, the document lifecycle, streamed answers."""

from __future__ import annotations

import json
import logging
import time

import httpx
import pytest
from litestar.testing import TestClient

from api.app import create_app
from rag.platform import Platform
from tests.conftest import FIXTURES
from tests.live import LiveServer

ESPRESSO = b"The espresso machine needs descaling every month. Descale it with citric acid dissolved in water.\n"
ZEBRA = b"Zebras are African equines with distinctive black-and-white striped coats. They live in herds.\n"
TOWER = (
    b"The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France.\n"
    b"It is named after the engineer Gustave Eiffel, whose company designed and built the tower from 1887 to 1889.\n"
)
NOT_A_PDF = b"%PDF-1.4 this is not really a PDF"


@pytest.fixture(scope="module")
def client(tmp_path_factory, embedder, generator):
    from rag.settings import Settings

    settings = Settings.from_env().replace(data_dir=tmp_path_factory.mktemp("service") / "data")
    platform = Platform(settings, generator=generator)
    with TestClient(app=create_app(settings, platform=platform)) as c:
        yield c
    platform.close()


def files(*items):
    return [("files", (name, data, "text/plain" if name.endswith(".txt") else None)) for name, data in items]


def sse(response) -> list[tuple[str, dict]]:
    """(event, data) pairs of a Server-Sent Events body."""
    out, event = [], "message"
    for line in response.iter_lines():
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            out.append((event, json.loads(line[5:])))
    return out


def test_collections_are_created_described_listed_and_deleted(client):
    r = client.post("/v1/collections", json={"name": "made", "index_spec": "Flat", "chunk_tokens": 64})
    assert r.status_code == 201, r.text
    made = r.json()
    assert (made["index_spec"], made["chunk_tokens"], made["chunk_overlap"]) == ("Flat", 64, 31)
    assert made["documents"] == 0 and made["dim"] == 384 and made["embed_model"].startswith("all-MiniLM-L6-v2")
    again = client.post("/v1/collections", json={"name": "made"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    bad = client.post("/v1/collections", json={"name": "tiny", "chunk_tokens": 4})
    assert bad.status_code == 422 and "chunk_tokens must be at least 16" in bad.json()["error"]["message"]
    assert (
        client.post("/v1/collections", json={"name": "x", "chunk_tokens": 100, "chunk_overlap": 60}).status_code == 422
    )
    assert client.get("/v1/collections/tiny").status_code == 404
    assert client.post("/v1/collections/made/documents?wait=true", files=files(("e.txt", ESPRESSO))).status_code == 201
    got = client.get("/v1/collections/made").json()
    assert (got["documents"], got["chunks"]) == (1, 1) and got["bytes_on_disk"] > 0
    assert "made" in [c["name"] for c in client.get("/v1/collections").json()["collections"]]
    gone = client.delete("/v1/collections/made")
    assert gone.status_code == 200 and gone.json()["deleted_documents"] == 1
    assert client.get("/v1/collections/made").status_code == 404
    platform = client.app.state.platform
    assert not any((platform.settings.data_dir / "collections").iterdir()) or all(
        c.name != "made" for c in platform.store.catalog.list_collections()
    )


def test_an_upload_is_a_job_whose_progress_streams_as_events(client):
    r = client.post(
        "/v1/collections/jobs/documents", files=files(("e.txt", ESPRESSO), ("z.txt", ZEBRA), ("bad.pdf", NOT_A_PDF))
    )
    assert r.status_code == 202, r.text
    accepted = r.json()
    job = accepted["job_id"]
    assert r.headers["location"] == f"/v1/jobs/{job}" and accepted["events_url"] == f"/v1/jobs/{job}/events"
    assert [f["filename"] for f in accepted["files"]] == ["e.txt", "z.txt", "bad.pdf"]
    assert {f["state"] for f in accepted["files"]} <= {"queued", "parsing", "embedding", "indexing", "done", "failed"}
    with client.stream("GET", f"/v1/jobs/{job}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = sse(stream)
    assert events[-1][0] == "failed" and all(e == "progress" for e, _ in events[:-1])
    final = events[-1][1]
    assert final == client.get(f"/v1/jobs/{job}").json()
    states = {f["filename"]: f for f in final["files"]}
    assert states["e.txt"]["state"] == "done" and states["e.txt"]["document_id"] and states["e.txt"]["n_chunks"] == 1
    assert states["bad.pdf"]["state"] == "failed" and "could not be read as a PDF" in states["bad.pdf"]["error"]
    assert "1 of 3 files could not be ingested: bad.pdf" in final["error"]
    assert final["progress"] == {
        "files_done": 3,
        "files_total": 3,
        "chunks_embedded": 2,
        "chunks_total": 2,
        "eta_seconds": 0.0,
        "files_searchable": 2,
        "reading": None,  # no file is being read by OCR
    }
    listed = client.get("/v1/jobs?kind=ingest&limit=5").json()["jobs"]
    assert listed[0]["id"] == job
    assert client.get("/v1/jobs/999999").status_code == 404
    assert client.get("/v1/jobs?kind=other").status_code == 422
    # the job's saved uploads are removed once it ends
    assert not (client.app.state.platform.settings.data_dir / "jobs" / str(job)).exists()


def test_bad_files_are_refused_before_a_job_starts(client):
    r = client.post("/v1/collections/jobs/documents", files=files(("empty.txt", b"  \n")))
    assert r.status_code == 422 and "empty" in r.json()["error"]["message"]
    r = client.post("/v1/collections/jobs/documents", files=files(("x.exe", b"MZ\x90\x00")))
    assert r.status_code == 415


def test_wait_mode_answers_with_the_documents_or_names_each_failed_file(client):
    r = client.post("/v1/collections/wait/documents?wait=true", files=files(("z.txt", ZEBRA)))
    assert r.status_code == 201 and r.json()["documents"][0]["n_chunks"] == 1 and r.json()["job_id"]
    r = client.post("/v1/collections/wait/documents?wait=true", files=files(("bad.pdf", NOT_A_PDF)))
    assert r.status_code == 422 and r.json()["error"]["message"].startswith("bad.pdf could not be read as a PDF")
    r = client.post("/v1/collections/wait/documents?wait=true", files=files(("e.txt", ESPRESSO), ("b.pdf", NOT_A_PDF)))
    assert r.status_code == 422
    assert "1 of 2 files could not be ingested: b.pdf" in r.json()["error"]["message"]
    assert "the other 1 file(s) were stored" in r.json()["error"]["message"]
    names = [d["filename"] for d in client.get("/v1/collections/wait/documents").json()["documents"]]
    assert names == ["z.txt", "e.txt"]


def test_documents_are_paged_read_replaced_and_deleted(client):
    body = client.post(
        "/v1/collections/life/documents?wait=true",
        files=files(("e.txt", ESPRESSO), ("z.txt", ZEBRA), ("guide.md", (FIXTURES / "api" / "guide.md").read_bytes())),
    ).json()
    ids = body["document_ids"]
    page = client.get("/v1/collections/life/documents?offset=1&limit=1").json()
    assert page["total"] == 3 and [d["id"] for d in page["documents"]] == [ids[1]]
    doc = client.get(f"/v1/collections/life/documents/{ids[2]}?text=true").json()
    assert doc["filename"] == "guide.md" and len(doc["chunks"]) == doc["n_chunks"] > 0
    first = doc["chunks"][0]
    assert doc["text"][first["char_start"] : first["char_end"]] in first["text"]
    assert "text" not in client.get(f"/v1/collections/life/documents/{ids[2]}").json() or (
        client.get(f"/v1/collections/life/documents/{ids[2]}").json()["text"] is None
    )
    assert client.get("/v1/collections/life/documents/424242").status_code == 404
    # replace the espresso note by a new version
    new = b"The espresso machine needs descaling every week now. Use a descaler made for espresso machines.\n"
    r = client.put(f"/v1/collections/life/documents/{ids[0]}?wait=true", files=files(("e2.txt", new)))
    assert r.status_code == 201, r.text
    new_id = r.json()["document_ids"][0]
    assert new_id != ids[0] and client.get(f"/v1/collections/life/documents/{ids[0]}").status_code == 404
    hits = client.post("/v1/collections/life/search", json={"query": "citric acid descaling", "k": 5}).json()
    assert ids[0] not in {h["document_id"] for h in hits["results"]} and hits["results"][0]["document_id"] == new_id
    # delete: gone from the catalog, BM25 and the vector index at once
    r = client.delete(f"/v1/collections/life/documents/{ids[1]}")
    assert r.status_code == 200 and r.json()["deleted_chunks"] == 1
    assert client.delete(f"/v1/collections/life/documents/{ids[1]}").status_code == 404
    for fusion in ("dense", "bm25", "rrf"):
        hits = client.post("/v1/collections/life/search", json={"query": "zebras striped", "k": 10, "fusion": fusion})
        assert ids[1] not in {h["document_id"] for h in hits.json()["results"]}, fusion
    platform = client.app.state.platform
    coll = platform.store.catalog.get_collection("life")
    stored = set(platform.store.vectors(coll).stored_ids().tolist())
    assert stored == set(platform.store.catalog.chunk_ids(coll.id).tolist())
    compacted = client.post("/v1/collections/life/compact").json()
    assert compacted["bytes_after"] <= compacted["bytes_before"]
    assert client.get("/v1/collections/life").json()["documents"] == 2


def test_a_deleted_document_is_never_cited_again(client):
    r = client.post("/v1/collections/forget/documents?wait=true", files=files(("tower.txt", TOWER), ("z.txt", ZEBRA)))
    tower = r.json()["document_ids"][0]
    question = {"question": "Who is the Eiffel Tower named after?", "k": 3}
    before = client.post("/v1/collections/forget/query", json=question).json()
    assert not before["abstained"] and tower in {c["document_id"] for c in before["citations"]}
    assert client.delete(f"/v1/collections/forget/documents/{tower}").status_code == 200
    after = client.post("/v1/collections/forget/query", json=question).json()
    assert tower not in {c["document_id"] for c in after["citations"]}
    assert tower not in {p["document_id"] for p in after["passages"]}
    assert "Gustave" not in after["answer"]


def test_a_streamed_answer_ends_with_the_response_it_would_have_given_whole(client):
    client.post("/v1/collections/stream/documents?wait=true", files=files(("tower.txt", TOWER)))
    # a generated answer (mode "reader" sends its span whole), kept whatever its support marks say
    question = {
        "question": "Why is the Eiffel Tower named after Gustave Eiffel?",
        "k": 3,
        "mode": "auto",
        "abstain": False,
    }
    whole = client.post("/v1/collections/stream/query", json=question).json()
    with client.stream("POST", "/v1/collections/stream/query", json={**question, "stream": True}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = sse(r)
    names = [e for e, _ in events]
    assert names[-4:] == ["tool_calls", "citations", "sentences", "done"] and names.count("token") >= 2
    done = events[-1][1]
    assert {k: v for k, v in done.items() if k != "timings"} == {k: v for k, v in whole.items() if k != "timings"}
    assert dict(events)["citations"] == {"citations": whole["citations"]}
    streamed = "".join(d["text"] for e, d in events if e == "token")
    assert streamed.split("[")[0].strip()[:20] == whole["answer"][:20]


def test_a_bad_streamed_request_is_a_4xx_before_any_event(client):
    r = client.post("/v1/collections/nowhere/query", json={"question": "x?", "stream": True})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    client.post("/v1/collections/stream2/documents?wait=true", files=files(("z.txt", ZEBRA)))
    r = client.post("/v1/collections/stream2/query", json={"question": "x?", "stream": True, "tools": ["nope"]})
    assert r.status_code in (400, 422) and "nope" in r.json()["error"]["message"]


class Records(logging.Handler):
    """The messages of one logger (the app's logging set-up replaces pytest's capture on the root logger)."""

    def __init__(self, name: str) -> None:
        super().__init__(logging.INFO)
        self.logger, self.messages = logging.getLogger(name), []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def __enter__(self) -> Records:
        self.logger.addHandler(self)
        self.level_before = self.logger.level
        self.logger.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc) -> None:
        self.logger.removeHandler(self)
        self.logger.setLevel(self.level_before)


@pytest.mark.slow  # loads models or runs for long: the fast loop skips it, make test runs it
def test_a_client_that_goes_away_frees_the_model(client):
    """Over a real connection (the test client buffers): leave after the first token; the decode stops."""
    client.post("/v1/collections/away/documents?wait=true", files=files(("tower.txt", TOWER)))
    platform = client.app.state.platform
    question = {"question": "Describe the Eiffel Tower in detail.", "k": 3, "mode": "passages", "abstain": False}
    stopped = "stopped an answer: the client went away"
    with LiveServer(create_app(platform.settings, platform=platform)) as live, httpx.Client(timeout=60) as http:
        with Records("api.controllers.query") as log:
            with http.stream("POST", f"{live.url}/v1/collections/away/query", json={**question, "stream": True}) as r:
                for line in r.iter_lines():
                    if line.startswith("event: token"):
                        break  # leave after the first token
            deadline = time.time() + 30
            while stopped not in log.messages and time.time() < deadline:
                time.sleep(0.05)
        assert stopped in log.messages
        assert platform.generator._lock.acquire(timeout=10)  # the model is free again
        platform.generator._lock.release()
        r = http.post(f"{live.url}/v1/collections/away/query", json={**question, "mode": "extract"})
        assert r.status_code == 200
