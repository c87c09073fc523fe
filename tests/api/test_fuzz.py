"""Property-based requests from the OpenAPI document (schemathesis): no route answers 500.

Every operation of ``/schema/openapi.json`` is called in-process (ASGI) with valid and
invalid parameters and bodies, and each response is checked: not a server error, a
status code the document lists, a body and content type that match what it documents.
The app is seeded with a collection ``docs`` of two small documents, an ingest job and a
benchmark job, and path parameters are now and then those real ids, so that routes get
past their 404s. POST /v1/benchmarks is fuzzed with its run stubbed (nothing is
benchmarked; the request is still validated, the job created, a plot written). The
answers route loads the language model, so the short run leaves it out and the slow run
calls it a few times.

The short run (default) makes a few requests per operation with a fixed seed; the slow
one (``-m slow -k fuzz``) about a hundred. Each run reports how many requests it made
and their statuses.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")

from _pytest.nodes import Node  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.python import asgi  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app  # noqa: E402
from rag.platform import Platform  # noqa: E402
from tests.conftest import FIXTURES  # noqa: E402

# schemathesis 4.32 renames the test node per operation through Node._nodeid, which pytest 9.2
# replaced by a structured id: without the attribute, every test fails before its first request.
# The names are only for the report, so here reading gives the node id and writing does nothing.
if not hasattr(Node, "_nodeid"):
    Node._nodeid = property(lambda node: node.nodeid, lambda node, value: None)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
SEED_FILES = [
    ("guide.md", (FIXTURES / "api" / "guide.md").read_bytes(), "text/markdown"),
    ("notes.txt", (FIXTURES / "api" / "notes.txt").read_bytes(), "text/plain"),
]
# A 1x1 PNG: what the stubbed benchmark run leaves as its plot.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d4944415478da63f8cfc0f01f0005000201a5b1e5f20000000049454e44ae426082"
)
# How the job runner (and the ingest, for an OSError) records an exception that is no platform error.
CRASH = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b: ")
QUERY = dict(method="POST", path="/v1/collections/{name}/query")

FAST = settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
UPLOAD_FAST = settings(FAST, max_examples=15)
LONG = settings(FAST, max_examples=100)
LONG_QUERY = settings(FAST, max_examples=10)


class Seeds:
    """The seeded objects (collection, documents, jobs) and what the fuzzer did, for the report."""

    def __init__(self, platform: Platform, client: asgi.ASGIClient) -> None:
        self.platform = platform
        self.client = client
        self.lock = threading.Lock()
        self.document_ids: list[int] = []
        self.ingest_job = 0
        self.benchmark_job = 0
        self.statuses: Counter[tuple[str, int]] = Counter()

    def upload(self) -> None:
        parts = [("files", f) for f in SEED_FILES]
        r = self.client.post("/v1/collections/docs/documents?wait=true", files=parts)
        assert r.status_code == 201, r.text
        self.ingest_job = r.json()["job_id"]

    def wait_for_jobs(self) -> None:
        for job in self.platform.jobs.list("ingest", 500):
            if not job.final:
                self.platform.jobs.wait_final(job.id)

    def job_crashes(self) -> list[str]:
        """Ingest jobs (or files of them) that failed with an unexpected exception: a 500 out of sight.

        A platform error is recorded as its message; anything else as ``TypeName: text``
        (by the job runner, or by the ingest for an OSError), which is what this looks for.
        """
        self.wait_for_jobs()
        found = []
        for job in self.platform.jobs.list("ingest", 10_000):
            errors = [(f.filename, f.error) for f in job.files if f.error]
            if job.status == "failed" and not errors:
                errors = [("(the job)", job.error or "")]
            found += [f"job {job.id}, {name}: {error}" for name, error in errors if CRASH.match(error)]
        return found

    def refresh(self) -> None:
        """After a call that may have deleted or replaced them: wait for ingests, upload what is gone."""
        self.wait_for_jobs()
        listed = self.client.get("/v1/collections/docs/documents")
        if listed.status_code != 200 or len(listed.json()["documents"]) < len(SEED_FILES):
            self.upload()
            listed = self.client.get("/v1/collections/docs/documents")
        self.document_ids = [d["id"] for d in listed.json()["documents"]][:3]

    def real(self, params: dict, doc: int, which: int) -> dict:
        """``params`` with the names this app has objects for (collection, document, job) set to real ones."""
        real = {
            "name": "docs",
            "document_id": self.document_ids[doc % len(self.document_ids)],
            "job_id": (self.ingest_job, self.benchmark_job)[which],
        }
        return {k: real.get(k, v) for k, v in params.items()}


def _stub_benchmark_run(platform: Platform):
    """Instead of benchmarking: a result file, a plot and a done job, at once."""

    def run(job, request) -> None:
        folder = platform.benchmarks.folder(job.id)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "results.jsonl").write_text('{"index": "stub", "recall@10": 1.0}\n')
        (folder / "plot.png").write_bytes(PNG)
        platform.jobs.update(job, status="done", result={"dataset": request.dataset, "stub": True})

    return run


@pytest.fixture(scope="module")
def fuzz_state(tmp_path_factory, embedder):
    from rag.settings import Settings

    data_dir: Path = tmp_path_factory.mktemp("fuzz") / "data"
    platform = Platform(Settings.from_env().replace(data_dir=data_dir, max_upload_mb=1.0))
    platform.benchmarks._run = _stub_benchmark_run(platform)
    app = create_app(platform=platform)
    # Loading the document starts the app's lifespan (schemathesis keeps it running for the calls).
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app)
    with asgi.get_client(app) as client:
        seeds = Seeds(platform, client)
        seeds.upload()
        seeds.refresh()
        started = client.post("/v1/benchmarks", json={"specs": ["Flat"], "baselines": []})
        assert started.status_code == 202, started.text
        seeds.benchmark_job = started.json()["id"]
        platform.jobs.wait_final(seeds.benchmark_job)

        @schema.hook
        def flatmap_path_parameters(context, path_parameters):
            if not path_parameters:
                return st.just(path_parameters)
            # the ids are read when the case is drawn: they change when a seeded document is deleted or replaced
            real = st.builds(seeds.real, st.just(path_parameters), st.integers(0, 2), st.integers(0, 1))
            return st.one_of(st.just(path_parameters), real)

        @schema.hook
        def after_call(context, case, response):
            documented = case.method.upper() == case.operation.method.upper()
            label = case.operation.label if documented else "methods the route does not have"
            with seeds.lock:
                seeds.statuses[(label, response.status_code)] += 1

        yield schema, seeds
    asgi.shutdown_lifespans()
    platform.close()


def _report(request, capsys, statuses: Counter, seconds: float) -> None:
    by_status: Counter[int] = Counter()
    per_op: dict[str, Counter[int]] = {}
    for (op, status), n in statuses.items():
        by_status[status] += n
        per_op.setdefault(op, Counter())[status] += n
    total = sum(by_status.values())
    lines = [f"{request.node.name}: {total} requests in {seconds:.1f} s, {by_status[500]} answered 500"]
    lines.append(f"  by status: {_statuses(by_status)}")
    lines += [f"  {op}: {sum(c.values())} ({_statuses(c)})" for op, c in sorted(per_op.items())]
    with capsys.disabled():  # shown whether or not pytest captures output
        print("\n" + "\n".join(lines))


def _statuses(counts: Counter[int]) -> str:
    return ", ".join(f"{status}: {n}" for status, n in sorted(counts.items()))


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_state):
    return fuzz_state[0]


@pytest.fixture
def seeds(fuzz_state, request, capsys):
    """The seeds; the test's requests, by operation and status, are reported when it ends."""
    seeds = fuzz_state[1]
    before, began = Counter(seeds.statuses), time.perf_counter()
    yield seeds
    _report(request, capsys, seeds.statuses - before, time.perf_counter() - began)


@pytest.fixture
def client(fuzz_state) -> asgi.ASGIClient:
    """A client of the fuzzed app (for the tests that pin what the fuzzing found)."""
    return fuzz_state[1].client


schema = schemathesis.pytest.from_fixture("fuzz_schema")


# Upload bodies: schemathesis sends the documented field ``files`` without filenames (OpenAPI
# cannot say a part needs one), which the upload refuses before reading a byte. So that the
# parsers and the ingest are fuzzed too, the upload tests send named files of these kinds
# instead (with the generated path and query).
EXTENSIONS = [".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".csv", ".docx", ".TXT", ""]
MEDIA_TYPES = [None, "text/plain", "text/markdown", "text/html", "application/pdf", "text/csv", "image/png"]
CONTENTS = st.one_of(
    st.binary(max_size=2048),
    st.text(max_size=1024).map(str.encode),
    st.binary(max_size=1024).map(lambda b: b"%PDF-1.4\n" + b),  # a broken PDF
    st.text(max_size=512).map(lambda t: f"<html><body><h1>{t}</h1><p>{t}</p></body></html>".encode()),
    st.lists(st.lists(st.text(max_size=12), min_size=1, max_size=4), max_size=6).map(
        lambda rows: "\n".join(",".join(r) for r in rows).encode()
    ),
)
STEMS = st.one_of(st.sampled_from(["notes", "Report 2024", "été", "a", "x.tar", ".hidden"]), st.text(max_size=20))
NAMED_FILE = st.tuples(
    st.tuples(STEMS, st.sampled_from(EXTENSIONS)).map("".join),
    CONTENTS,
    st.sampled_from(MEDIA_TYPES),
)
UPLOADS = ["uploadDocuments", "replaceDocument"]


def _call(case, seeds: Seeds, **kwargs) -> None:
    response = case.call_and_validate(checks=CHECKS, **kwargs)
    if response.status_code in (201, 202, 422) and case.operation.definition.raw.get("operationId") in UPLOADS:
        # an ingest that crashed is answered as a failed file (422, or a job that fails after the 202)
        crashes = seeds.job_crashes()
        assert not crashes, crashes
    if case.method.upper() in ("DELETE", "PUT") and response.status_code < 300:
        seeds.refresh()  # it may have deleted or replaced a seeded document or the collection


def _named_files(data) -> list:
    files = data.draw(st.lists(NAMED_FILE, min_size=1, max_size=3), label="files")
    return [("files", (name, content, ctype) if ctype else (name, content)) for name, content, ctype in files]


@FAST
@schema.exclude(**QUERY).parametrize()
def test_no_server_errors(case, seeds):
    _call(case, seeds)


@UPLOAD_FAST
@schema.include(operation_id=UPLOADS).parametrize()
@schema.given(data=st.data())
def test_uploads_of_named_files(case, data, seeds):
    _call(case, seeds, files=_named_files(data))


@pytest.mark.slow
@pytest.mark.long
@LONG
@schema.exclude(**QUERY).parametrize()
def test_no_server_errors_long(case, seeds):
    _call(case, seeds)


@pytest.mark.slow
@pytest.mark.long
@LONG
@schema.include(operation_id=UPLOADS).parametrize()
@schema.given(data=st.data())
def test_uploads_of_named_files_long(case, data, seeds):
    _call(case, seeds, files=_named_files(data))


@pytest.mark.slow
@pytest.mark.long
@LONG_QUERY
@schema.include(**QUERY).parametrize()
def test_no_server_errors_when_answering(case, seeds):
    _call(case, seeds)


# Questions the answers route takes: the generated bodies almost never name a valid fusion, mode
# or context, so the slow run also asks with these switches (drawn from their valid values).
QUESTION = st.fixed_dictionaries(
    {"question": st.text(min_size=1, max_size=80).filter(str.strip)},
    optional={
        "k": st.integers(1, 6),
        "fusion": st.sampled_from([None, "rrf", "convex", "dense", "bm25"]),
        "rerank": st.sampled_from([None, False, True]),
        "candidates": st.one_of(st.none(), st.integers(1, 50)),
        "mode": st.sampled_from([None, "auto", "passages", "focus", "extract"]),
        "tools": st.sampled_from([None, False, True]),
        "abstain": st.sampled_from([None, False, True]),
        "context": st.sampled_from([None, "prompt", "retro"]),
        "stream": st.booleans(),
    },
)


@pytest.mark.slow
@pytest.mark.long
@LONG_QUERY
@schema.include(**QUERY).parametrize()
@schema.given(data=st.data())
def test_no_server_errors_when_answering_valid_questions(case, data, seeds):
    if data.draw(st.integers(0, 3), label="ask the seeded collection"):
        case.path_parameters = {"name": "docs"}
    _call(case, seeds, json=data.draw(QUESTION, label="question"))


# -- what the fuzzing found, pinned ----------------------------------------------------------------


def test_a_page_past_the_last_document_is_empty_and_an_offset_past_64_bits_is_refused(client):
    """An offset over 2**63 - 1 reached DuckDB, which cannot read it as BIGINT: a 500."""
    last = client.get(f"/v1/collections/docs/documents?offset={2**63 - 1}")
    assert last.status_code == 200 and last.json()["documents"] == [], last.text
    for offset in (2**63, 2**70):
        r = client.get(f"/v1/collections/docs/documents?offset={offset}")
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "validation_error" and "offset" in r.json()["error"]["message"]


def _schemas(node, where="#"):
    """Every (location, schema object) of an OpenAPI document, depth first."""
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from _schemas(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _schemas(value, f"{where}/{i}")


def test_no_documented_value_matches_two_branches_of_a_oneOf(client):
    """``object | None`` was documented as oneOf [{}, null]: null matches both, so no error body
    (``"detail": null``) conformed to the document."""
    document = client.get("/schema/openapi.json").json()
    ambiguous = [where for where, node in _schemas(document) if {} in (node.get("oneOf") or [])]
    assert not ambiguous
    detail = document["components"]["schemas"]["ErrorBody"]["properties"]["detail"]["oneOf"]
    assert sorted(s["type"] for s in detail) == ["array", "null", "object"]


def test_the_answer_and_the_event_streams_are_documented(client):
    """The answer's JSON was documented as {} (a union return type), and each event of a stream as a string."""
    document = client.get("/schema/openapi.json").json()
    answer = document["paths"]["/v1/collections/{name}/query"]["post"]["responses"]["200"]["content"]
    assert answer["application/json"]["schema"] == {"$ref": "#/components/schemas/QueryResponse"}
    assert "ToolCallOut" in document["components"]["schemas"]
    event = answer["text/event-stream"]["schema"]
    assert event["type"] == "object" and set(event["required"]) == {"event", "data"}
    assert set(event["properties"]["event"]["enum"]) >= {"token", "citations", "done", "error"}
    job = document["paths"]["/v1/jobs/{job_id}/events"]["get"]["responses"]["200"]["content"]["text/event-stream"]
    data = job["schema"]["properties"]["data"]
    assert data["contentMediaType"] == "application/json"
    assert data["contentSchema"] == {"$ref": "#/components/schemas/JobOut"}
    assert job["schema"]["properties"]["event"]["enum"] == ["progress", "done", "failed"]
