"""Crash safety: ingest into a real server process, SIGKILL it at random moments, restart, check the data.

After every round: every file of an upload that was acknowledged (202: its bytes were
saved) ends stored once its job resumes, every document whose job reported done
before the kill is complete and searchable, no job is left unfinished, no partial
document is visible (each document has all its chunks), and the catalog, the BM25
index and the vector index hold the same chunk ids. A few rounds run in CI; the
``slow`` run does 20.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from rag.bench.server_process import ServerProcess

COLLECTION = "crash"
WORDS = "alpha beta gamma delta epsilon zeta theta kappa lambda sigma omega river stone cloud maple".split()


def document(tag: str, rng: random.Random) -> bytes:
    """A few paragraphs, with a word of its own (``tag``) so that a search can find exactly it."""
    paragraphs = [" ".join(rng.choice(WORDS) for _ in range(60)) + "." for _ in range(rng.randint(2, 8))]
    return (f"Document {tag}. The code word is {tag}.\n\n" + "\n\n".join(paragraphs)).encode()


def start_server(data_dir: Path) -> ServerProcess:
    """A server process over ``data_dir``, with its own log beside it (one per start)."""
    n = len(list(data_dir.parent.glob("server-*.log")))
    return ServerProcess(data_dir, data_dir.parent / f"server-{n}.log", env={"RAG_INDEX_SPEC": "HNSW16"}).start()


def upload(http: httpx.Client, files: dict[str, bytes]) -> int | None:
    """The job id of an acknowledged upload, or None when the server died before it answered."""
    parts = [("files", (name, data, "text/plain")) for name, data in files.items()]
    try:
        r = http.post(f"/v1/collections/{COLLECTION}/documents", files=parts)
    except httpx.HTTPError:
        return None
    assert r.status_code == 202, r.text
    return r.json()["job_id"]


def round_of_uploads(server: ServerProcess, rng: random.Random, round_no: int, kill_after: float):
    """Upload batches until ``kill_after`` seconds have passed, then SIGKILL. Returns what was acknowledged
    ({job id: {filename: bytes}}) and the jobs seen done before the kill."""
    acknowledged: dict[int, dict[str, bytes]] = {}
    done: set[int] = set()
    with httpx.Client(base_url=server.url, timeout=120) as http:
        # First one upload that ends before the clock starts (the embedder loads with it), so that every
        # round has documents that were reported done before the kill.
        files = {f"r{round_no}w.txt": document(f"zq{round_no}w", rng)}
        parts = [("files", (name, data, "text/plain")) for name, data in files.items()]
        r = http.post(f"/v1/collections/{COLLECTION}/documents?wait=true", files=parts)
        assert r.status_code == 201, r.text
        acknowledged[r.json()["job_id"]] = files
        done.add(r.json()["job_id"])
    start = time.time()
    with httpx.Client(base_url=server.url, timeout=10) as http:
        batch = 0
        while time.time() - start < kill_after:
            files = {f"r{round_no}b{batch}f{i}.txt": document(f"zq{round_no}x{batch}x{i}", rng) for i in range(3)}
            batch += 1
            job = upload(http, files)
            if job is not None:
                acknowledged[job] = files
            for job in acknowledged:
                try:
                    if http.get(f"/v1/jobs/{job}").json()["status"] == "done":
                        done.add(job)
                except httpx.HTTPError:
                    pass
            time.sleep(rng.uniform(0, 0.3))
    server.kill()
    return acknowledged, done


def listed_names(http: httpx.Client) -> set[str]:
    """The filenames of every document of the collection, read a page at a time."""
    names: set[str] = set()
    while True:
        r = http.get(f"/v1/collections/{COLLECTION}/documents", params={"offset": len(names), "limit": 1000})
        if r.status_code == 404:  # killed before any upload was acknowledged
            return names
        page = r.json()["documents"]
        names |= {d["filename"] for d in page}
        if len(page) < 1000:
            return names


def check_store(data_dir: Path) -> int:
    """The catalog, BM25 and vectors hold the same chunk ids; every document has all its chunks. Returns
    the number of documents."""
    from rag.store import Store

    store = Store(data_dir)
    try:
        coll = store.catalog.find_collection(COLLECTION)
        if coll is None:
            return 0
        vs = store.vectors(coll)
        catalog_ids = np.sort(store.catalog.chunk_ids(coll.id))
        assert np.array_equal(np.sort(vs.stored_ids()), catalog_ids), "vectors and catalog disagree"
        assert np.array_equal(vs.lexical.ids(), catalog_ids), "BM25 and catalog disagree"
        docs = store.catalog.list_documents(coll.id)
        for doc in docs:
            chunks = store.catalog.get_document(coll.id, doc.id).chunks
            assert len(chunks) == doc.n_chunks > 0, doc
        assert not store.catalog.list_jobs(unfinished=True), "a job was left unfinished"
        return len(docs)
    finally:
        store.close()


def finish_jobs(server: ServerProcess, jobs: list[int]) -> dict[int, dict]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        deadline = time.time() + 300
        while True:
            states = {job: http.get(f"/v1/jobs/{job}").json() for job in jobs}
            if all(s["status"] in ("done", "failed") for s in states.values()) or time.time() > deadline:
                return states
            time.sleep(0.2)


def run_rounds(tmp_path: Path, rounds: int, seed: int) -> dict:
    rng = random.Random(seed)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    everything: dict[str, bytes] = {}  # every acknowledged file, by name
    stats = {"rounds": rounds, "acknowledged_files": 0, "lost": 0, "done_before_kill": 0}
    for round_no in range(rounds):
        server = start_server(data_dir)
        acknowledged, done = round_of_uploads(server, rng, round_no, kill_after=rng.uniform(0.5, 6.0))
        stats["done_before_kill"] += len(done)
        server = start_server(data_dir)  # the restart resumes the interrupted jobs
        states = finish_jobs(server, list(acknowledged))
        for job, files in acknowledged.items():
            everything.update(files)
            state = states[job]
            assert state["status"] == "done", state  # saved before the 202: nothing is lost
            assert sorted(f["filename"] for f in state["files"]) == sorted(files)
        with httpx.Client(base_url=server.url, timeout=60) as http:
            names = listed_names(http)
            lost = [name for name in everything if name not in names]
            stats["lost"] += len(lost)
            assert not lost, lost
            for job in done:  # reported done before the kill: searchable now, by its own word
                for name, data in acknowledged[job].items():
                    word = data.split(b"code word is ")[1].split(b".")[0].decode()
                    hits = http.post(
                        f"/v1/collections/{COLLECTION}/search", json={"query": word, "k": 3, "fusion": "bm25"}
                    ).json()["results"]
                    assert hits and hits[0]["filename"] == name, (name, hits)
        server.stop()
        assert check_store(data_dir) == len(everything)
    stats["acknowledged_files"] = len(everything)
    return stats


@pytest.mark.slow  # loads models or runs for long: the fast loop skips it, make test runs it
def test_sigkill_during_ingest_loses_no_acknowledged_document(tmp_path, embedder):
    stats = run_rounds(tmp_path, rounds=3, seed=1)
    assert stats["lost"] == 0 and stats["acknowledged_files"] > 0


@pytest.mark.slow
@pytest.mark.long
def test_twenty_sigkill_rounds(tmp_path, embedder):
    stats = run_rounds(tmp_path, rounds=20, seed=2)
    print("crash rounds:", stats)
    assert stats["lost"] == 0
