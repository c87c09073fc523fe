"""A bounded load test on the loopback: concurrent queries against the real server while an ingest runs.

The server is started as a subprocess (``uvicorn api.app:create_app --factory``) on a free
port of 127.0.0.1, with ``RAG_DATA_DIR`` pointing at a fresh data directory, so the test
goes through everything a client meets: HTTP, the event loop, the thread pool, the
embedder, the indexes and the job runner. A collection is seeded with SciFact abstracts
(``../shared/data/scifact``: the documents judged relevant to the test queries first),
then for ``seconds``:

* ``concurrency`` worker threads, each with its own ``httpx.Client``, send SciFact
  queries in a loop: ``POST /v1/collections/{c}/search`` and, a fraction
  ``ask_fraction`` of the time, ``POST /v1/collections/{c}/query`` (mode ``extract``);
* one more thread ingests further abstracts the whole time, ``ingest_batch`` files per
  upload (``POST .../documents``: 202 and a job id), polling ``GET /v1/jobs/{id}`` until
  the job is done or failed, then uploading the next batch.

Every request is recorded (kind, status, seconds); an error is a non-2xx answer or an
exception (a timeout counts). An ingest job that fails, or a file of it that is not
stored, is an ingest error. ``out_dir/load.json`` holds the summary and
``out_dir/server.log`` the server's output; ``out_dir/requests.jsonl`` lists every request (kind, status,
start in seconds from the start of the load, milliseconds, error). The throughput counts the queries
that ended within ``seconds``; a search and (with questions) a question warm the server up first.

Only the CLI (``rag bench load``) calls this; it imports nothing of ``api``: the server
is started by its import string.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from rag.bench.load_report import IngestStats, Record, Recorder, summarize, table
from rag.bench.server_process import ServerProcess

REPO = Path(__file__).resolve().parents[2]
SCIFACT = REPO.parent / "shared" / "data" / "scifact"
COLLECTION = "load"
SEARCH_TIMEOUT = 60.0
ASK_TIMEOUT = 180.0
JOB_POLL_SECONDS = 0.2
JOB_TIMEOUT = 600.0  # an ingest job that has not ended by then is an error


# ----------------------------------------------------------------------------------------------- data


def read_scifact(root: Path = SCIFACT) -> tuple[list[dict], list[str], list[str]]:
    """(corpus rows, query texts, corpus ids judged for the test queries in query order)."""
    corpus = [json.loads(line) for line in (root / "corpus.jsonl").read_text(encoding="utf-8").splitlines() if line]
    queries = {}
    for line in (root / "queries.jsonl").read_text(encoding="utf-8").splitlines():
        if line:
            row = json.loads(line)
            queries[row["_id"]] = row["text"]
    judged, texts = [], []
    for line in (root / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        qid, doc_id, *_ = line.split("\t")
        if qid in queries and queries[qid] not in texts:
            texts.append(queries[qid])
        if doc_id not in judged:
            judged.append(doc_id)
    return corpus, texts, judged


def as_file(row: dict, prefix: str, suffix: str = "") -> tuple[str, bytes, str]:
    text = f"{row.get('title', '')}\n\n{row['text']}{suffix}\n"
    return f"{prefix}{row['_id']}.txt", text.encode("utf-8"), "text/plain"


def split_corpus(corpus: list[dict], judged: list[str], seed_docs: int) -> tuple[list[dict], list[dict]]:
    """The seed (judged documents first, so the queries find their answers) and the rest, for the ingest."""
    by_id = {row["_id"]: row for row in corpus}
    seed_ids = [d for d in judged if d in by_id][:seed_docs]
    chosen = set(seed_ids)
    for row in corpus:
        if len(seed_ids) >= seed_docs:
            break
        if row["_id"] not in chosen:
            seed_ids.append(row["_id"])
            chosen.add(row["_id"])
    seed = [by_id[d] for d in seed_ids]
    rest = [row for row in corpus if row["_id"] not in chosen and row.get("text")]
    return seed, rest


# -------------------------------------------------------------------------------------------- traffic


def upload(client: httpx.Client, files: list[tuple[str, bytes, str]], wait: bool) -> httpx.Response:
    return client.post(
        f"/v1/collections/{COLLECTION}/documents",
        params={"wait": "true"} if wait else None,
        files=[("files", f) for f in files],
    )


def seed(url: str, files: list[tuple[str, bytes, str]], recorder: Recorder, batch: int) -> int:
    """Upload the seed with wait=true, ``batch`` files a request; the documents stored."""
    stored = 0
    with httpx.Client(base_url=url, timeout=JOB_TIMEOUT) as client:
        for i in range(0, len(files), batch):
            r = recorder.timed("seed", lambda i=i: upload(client, files[i : i + batch], wait=True))
            if r is None:
                raise RuntimeError(f"seeding failed: {recorder.last_error}")
            stored += len(r.json()["documents"])
    return stored


def warm_up(url: str, query: str, k: int, ask: bool, recorder: Recorder) -> None:
    """One search and (``ask``) one question before the clock starts: the server loads its models lazily."""
    with httpx.Client(base_url=url, timeout=ASK_TIMEOUT) as client:
        recorder.timed("warmup", lambda: client.post(f"/v1/collections/{COLLECTION}/search", json={"query": query}))
        if ask:
            body = {"question": query, "k": min(k, 3), "mode": "extract"}
            recorder.timed("warmup", lambda: client.post(f"/v1/collections/{COLLECTION}/query", json=body))


def query_worker(
    url: str, queries: list[str], deadline: float, k: int, ask_fraction: float, recorder: Recorder, rng: random.Random
) -> None:
    search_url = f"/v1/collections/{COLLECTION}/search"
    ask_url = f"/v1/collections/{COLLECTION}/query"
    with httpx.Client(base_url=url, timeout=SEARCH_TIMEOUT) as client:
        i = rng.randrange(len(queries))
        while time.monotonic() < deadline:
            text = queries[i % len(queries)]
            i += 1
            if rng.random() < ask_fraction:
                body = {"question": text, "k": min(k, 3), "mode": "extract"}
                recorder.timed("ask", lambda b=body: client.post(ask_url, json=b, timeout=ASK_TIMEOUT))
            else:
                body = {"query": text, "k": k}
                recorder.timed("search", lambda b=body: client.post(search_url, json=b), ok=_has_results)


def _has_results(response: httpx.Response) -> str | None:
    return None if response.json().get("results") else "a search of the seeded collection found nothing"


def ingest_worker(
    url: str, pool: list[dict], batch: int, deadline: float, recorder: Recorder, stats: IngestStats
) -> None:
    """Upload ``batch`` files, wait for the job to end, repeat until ``deadline`` (the last job is waited for)."""
    t0 = time.monotonic()
    n = 0
    with httpx.Client(base_url=url, timeout=SEARCH_TIMEOUT) as client:
        while time.monotonic() < deadline:
            files = []
            for _ in range(batch):  # past the pool, the same abstracts again with a marker (no duplicates)
                rnd, row = divmod(n, len(pool))
                files.append(as_file(pool[row], f"ingest-{rnd}-", f"\n(copy {rnd})" if rnd else ""))
                n += 1
            started = time.perf_counter()
            r = recorder.timed("upload", lambda f=files: upload(client, f, wait=False))
            stats.jobs += 1
            if r is None:
                stats.errors += 1
                time.sleep(1.0)  # a refused upload is an error; do not flood the server with more
                continue
            job_id = r.json()["job_id"]
            job, error = None, None
            while True:
                p = recorder.timed("poll", lambda j=job_id: client.get(f"/v1/jobs/{j}"))
                if p is None:
                    error = f"poll: {recorder.last_error}"
                    break
                job = p.json()
                if job["status"] in ("done", "failed"):
                    break
                if time.perf_counter() - started > JOB_TIMEOUT:
                    error = f"job {job_id} has not ended after {JOB_TIMEOUT:.0f} s (status {job['status']})"
                    break
                time.sleep(JOB_POLL_SECONDS)
            if job is not None:
                stored = sum(f["state"] in ("done", "duplicate") for f in job["files"])
                stats.documents += stored
                if error is None and (job["status"] != "done" or stored != len(files)):
                    error = f"job {job_id} {job['status']}: {job.get('error')}"
            if error is not None:
                stats.errors += 1
            recorder.add(Record("job", 200 if error is None else 0, time.perf_counter() - started, error))
    stats.seconds = time.monotonic() - t0


def run(
    out_dir: Path,
    seconds: float = 60,
    concurrency: int = 4,
    data_dir: Path | None = None,
    ingest_docs: int = 4000,
    k: int = 5,
    ask_fraction: float = 0.1,
    seed_docs: int = 200,
    ingest_batch: int = 16,
    scifact: Path = SCIFACT,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Start the server, seed ``seed_docs`` abstracts, load it for ``seconds``; the summary (also in load.json).

    Args:
        data_dir: the server's data directory (default: a fresh temporary one, removed after).
        ingest_docs: distinct abstracts the ingest thread may upload (it cycles through them if it runs out).
        ask_fraction: share of the queries that ask a question (``/query``, mode extract) instead of searching.
        ingest_batch: files per ingest upload (one job each).
    """
    log = log or (lambda message: print(message, file=sys.stderr))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    corpus, queries, judged = read_scifact(scifact)
    seed_rows, rest = split_corpus(corpus, judged, seed_docs)
    recorder, ingest = Recorder(), IngestStats()
    with contextlib.ExitStack() as stack:
        server = _start_server(stack, data_dir, out_dir, log)
        stored = _seed_and_warm_up(server.url, seed_rows, queries[0], k, ask_fraction > 0, seconds, recorder, log)
        load_before = os.getloadavg()[0]  # other processes' load disturbs the numbers: recorded beside them
        start = time.monotonic()
        elapsed = _load(
            server.url, queries, rest[:ingest_docs], recorder, ingest, start=start, seconds=seconds,
            concurrency=concurrency, k=k, ask_fraction=ask_fraction, ingest_batch=ingest_batch,
        )  # fmt: skip
    summary = summarize(recorder.records, seconds, start, elapsed, concurrency, ingest)
    summary["seed_documents"] = stored
    summary["loadavg_1min"] = {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)}
    summary["server_stop"] = server.stopped
    summary["server_log_errors"] = server.log_errors()[:20]
    _write(out_dir, summary, recorder.records, start)
    print(table(summary))
    return summary


def _start_server(
    stack: contextlib.ExitStack, data_dir: Path | None, out_dir: Path, log: Callable[[str], None]
) -> ServerProcess:
    """The server on ``data_dir`` (None: a temporary one), stopped (and the directory removed) with ``stack``."""
    if data_dir is None:
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rag-load-"))) / "data"
    log(f"starting the server (data {data_dir}, log {out_dir / 'server.log'})")
    return stack.enter_context(ServerProcess(Path(data_dir), out_dir / "server.log"))


def _seed_and_warm_up(
    url: str,
    seed_rows: list[dict],
    query: str,
    k: int,
    ask: bool,
    seconds: float,
    recorder: Recorder,
    log: Callable[[str], None],
) -> int:
    """Store the seed abstracts and warm the server up (``ask``: a question too); the documents stored."""
    t0 = time.monotonic()
    stored = seed(url, [as_file(r, "seed-") for r in seed_rows], recorder, batch=50)
    log(f"seeded {stored} documents in {time.monotonic() - t0:.1f} s")
    warm_up(url, query, k, ask, recorder)
    log(f"warmed up in {time.monotonic() - t0:.1f} s; loading for {seconds} s")
    return stored


def _load(
    url: str,
    queries: list[str],
    pool: list[dict],
    recorder: Recorder,
    ingest: IngestStats,
    *,
    start: float,
    seconds: float,
    concurrency: int,
    k: int,
    ask_fraction: float,
    ingest_batch: int,
) -> float:
    """Run ``concurrency`` query threads and one ingest thread from ``start`` for ``seconds``; the seconds
    the queries took (the ingest's last job may end later; it is waited for)."""
    deadline = start + seconds
    threads = [
        threading.Thread(
            target=query_worker,
            args=(url, queries, deadline, k, ask_fraction, recorder, random.Random(i)),
            name=f"load-query-{i}",
        )
        for i in range(concurrency)
    ]
    threads.append(
        threading.Thread(
            target=ingest_worker, args=(url, pool, ingest_batch, deadline, recorder, ingest), name="ingest"
        )
    )
    for t in threads:
        t.start()
    for t in threads[:-1]:
        t.join()
    elapsed = time.monotonic() - start  # the queries' time: the ingest's last job may end later
    threads[-1].join()
    return elapsed


def _write(out_dir: Path, summary: dict, records: list[Record], start: float) -> None:
    """``load.json`` (the summary) and ``requests.jsonl`` (every request, by its start) in ``out_dir``."""
    (out_dir / "load.json").write_text(json.dumps(summary, indent=2))
    with open(out_dir / "requests.jsonl", "w", encoding="utf-8") as f:
        for r in sorted(records, key=lambda r: r.end - r.seconds):
            row = {"kind": r.kind, "status": r.status, "start_s": round(r.end - r.seconds - start, 4)}
            f.write(json.dumps({**row, "ms": round(r.seconds * 1000, 2), "error": r.error}) + "\n")
