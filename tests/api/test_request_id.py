"""Request ids: in and out as X-Request-ID, in the log lines written while a request is handled, text or JSON.

The fast tests use the app in-process (a probe route is registered on it to write a log
line from inside a handler); the slow one starts a real uvicorn with RAG_LOG_FORMAT=json
and reads its log file.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import sys
import time

import anyio
import httpx
import pytest
from litestar import get
from litestar.response import ServerSentEvent, ServerSentEventMessage
from litestar.testing import TestClient

from api.answers import ANSWERS
from api.app import create_app
from api.tracing import MAX_ID_CHARS, REQUEST_ID, JsonFormatter, RequestIdFilter, install_logging
from rag.bench.server_process import ServerProcess
from rag.platform import Platform

HEX_ID = re.compile(r"[0-9a-f]{32}")
probe_log = logging.getLogger("tests.request_id.probe")


@get("/probe/log", operation_id="probeLog")
async def log_async() -> str:
    probe_log.warning("handled on the event loop")
    return "ok"


@get("/probe/log-sync", operation_id="probeLogSync", sync_to_thread=True)
def log_on_a_thread() -> str:
    probe_log.warning("handled on a worker thread")
    return "ok"


def _log_as_an_answer() -> str:
    probe_log.warning("handled on an answer thread")
    return "ok"


@get("/probe/log-answer", operation_id="probeLogAnswer")
async def log_on_an_answer_thread() -> str:
    return await ANSWERS.run(_log_as_an_answer)  # the pool answers run on (api.answers)


class Records(logging.Handler):
    """Keeps the records it is given (with what the app's filter added)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def probed_app(settings):
    app = create_app(settings)
    app.register(log_async)
    app.register(log_on_a_thread)
    app.register(log_on_an_answer_thread)
    return app


@pytest.fixture
def client(settings):
    with TestClient(app=probed_app(settings), base_url="http://localhost.localhost") as c:
        yield c


def test_a_sane_id_is_echoed_and_any_other_is_replaced(client):
    sane = "a" * MAX_ID_CHARS
    assert client.get("/healthz", headers={"X-Request-ID": "job-7.retry_2"}).headers["X-Request-ID"] == "job-7.retry_2"
    assert client.get("/healthz", headers={"X-Request-ID": sane}).headers["X-Request-ID"] == sane
    for bad in ("a" * (MAX_ID_CHARS + 1), "two words", "id\u00e9".encode("latin-1"), "x;rm", "new\\nline", ""):
        got = client.get("/healthz", headers={"X-Request-ID": bad}).headers["X-Request-ID"]
        assert HEX_ID.fullmatch(got), (bad, got)


def test_every_request_gets_its_own_id_even_a_404_no_route_serves(client):
    ids = [client.get("/healthz").headers["X-Request-ID"] for _ in range(3)]
    missing = client.get("/no/such/route")
    assert missing.status_code == 404
    ids.append(missing.headers["X-Request-ID"])
    assert all(HEX_ID.fullmatch(i) for i in ids) and len(set(ids)) == 4
    assert len(client.get("/healthz").headers.get_list("X-Request-ID")) == 1


def test_the_app_filters_every_root_handler(client):
    """What the app installs: each handler of the root logger gives records their request id (pytest's own
    handlers, added for each test after the app was built, aside)."""
    handlers = [h for h in logging.getLogger().handlers if not type(h).__module__.startswith("_pytest")]
    assert handlers
    assert all(any(isinstance(f, RequestIdFilter) for f in h.filters) for h in handlers)


WRITTEN_ON = {
    "/probe/log": "the event loop",
    "/probe/log-sync": "a worker thread",
    "/probe/log-answer": "an answer thread",
}


@pytest.mark.parametrize("path", list(WRITTEN_ON))
def test_a_log_line_written_while_handling_a_request_carries_its_id(client, path):
    records = Records()
    root = logging.getLogger()
    root.addHandler(records)
    install_logging("text")  # as the app did for the handlers it found
    try:
        response = client.get(path, headers={"X-Request-ID": "trace-me-1"})
        probe_log.warning("outside any request")
    finally:
        root.removeHandler(records)
    assert response.status_code == 200, response.text
    ids = {r.getMessage(): r.request_id for r in records.records if r.name == probe_log.name}
    assert ids == {"handled on " + WRITTEN_ON[path]: "trace-me-1",
                   "outside any request": None}  # fmt: skip
    line = records.format(next(r for r in records.records if r.request_id))
    assert line.endswith("request_id=trace-me-1")


def test_json_logs_are_one_object_a_line_with_the_request_id(settings):
    """RAG_LOG_FORMAT=json: what the root's handler prints (through Litestar's queue) parses as JSON."""
    app = probed_app(settings.replace(log_format="json"))
    root = logging.getLogger()
    printers = [p for h in root.handlers for p in getattr(getattr(h, "listener", None), "handlers", [h])]
    out = io.StringIO()
    streams = [p.setStream(out) for p in printers if isinstance(p, logging.StreamHandler)]
    try:
        with TestClient(app=app, base_url="http://localhost.localhost") as client:
            client.get("/probe/log", headers={"X-Request-ID": "json-1"})
            probe_log.error("outside, with a traceback", exc_info=ValueError("boom"))
            deadline = time.monotonic() + 5
            while out.getvalue().count("\n") < 2 and time.monotonic() < deadline:  # the queue prints on its thread
                time.sleep(0.01)
    finally:
        for printer, stream in zip(printers, streams, strict=False):
            printer.setStream(stream)
        install_logging("text")  # back to the text the other tests' apps leave
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert all(set(line) >= {"timestamp", "level", "logger", "message", "request_id"} for line in lines)
    ours = {line["message"]: line for line in lines if line["logger"] == probe_log.name}
    assert ours["handled on the event loop"]["request_id"] == "json-1"
    assert ours["handled on the event loop"]["level"] == "WARNING"
    outside = next(line for message, line in ours.items() if message.startswith("outside"))
    assert outside["request_id"] is None and outside["exception"].endswith("ValueError: boom")


def test_the_json_formatter_writes_the_fields_and_the_exception():
    record = logging.LogRecord("api.x", logging.ERROR, __file__, 1, "failed %s", ("here",), None)
    token = REQUEST_ID.set("r-1")
    try:
        RequestIdFilter().filter(record)
    finally:
        REQUEST_ID.reset(token)
    try:
        raise KeyError("k")
    except KeyError:
        record.exc_info = sys.exc_info()
    line = json.loads(JsonFormatter().format(record))
    assert [line[f] for f in ("level", "logger", "message", "request_id")] == ["ERROR", "api.x", "failed here", "r-1"]
    assert line["timestamp"].endswith("+00:00") and "KeyError" in line["exception"]


def test_a_stream_is_passed_on_event_by_event(settings):
    """Through both middlewares, the first event reaches the client before the stream goes on: nothing is buffered.

    The stream waits, after its first event, until the client has that event (or 5 s). Driven at the ASGI level,
    where each message the app sends is seen as it is sent.
    """
    received_first = asyncio.Event()

    async def events():
        yield ServerSentEventMessage(data="first")
        try:
            with anyio.fail_after(5):
                await received_first.wait()
            yield ServerSentEventMessage(data="after the client had the first")
        except TimeoutError:
            yield ServerSentEventMessage(data="the first was held back")

    @get("/probe/stream", operation_id="probeStream")
    async def stream() -> ServerSentEvent:
        return ServerSentEvent(events())

    platform = Platform(settings)
    app = create_app(settings, platform=platform)
    app.register(stream)
    app.state.platform = platform  # what the lifespan sets; the guards read the keys from it
    sent: list[dict] = []
    requested, finished = [], asyncio.Event()

    async def receive():  # the request, then (as a client that stays) nothing until the response is over
        if not requested:
            requested.append(True)
            return {"type": "http.request", "body": b"", "more_body": False}
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)
        if b"first" in message.get("body", b""):
            received_first.set()
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            finished.set()

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": "/probe/stream", "raw_path": b"/probe/stream", "root_path": "", "query_string": b"",
        "headers": [(b"host", b"localhost"), (b"x-request-id", b"stream-1")], "client": ("127.0.0.1", 1),
        "server": ("localhost", 80),
    }  # fmt: skip
    try:
        asyncio.run(app(scope, receive, send))
    finally:
        platform.close()
    start = sent[0]
    assert start["status"] == 200 and (b"x-request-id", b"stream-1") in start["headers"]
    body = b"".join(m.get("body", b"") for m in sent[1:]).decode()
    assert "after the client had the first" in body and "held back" not in body


@pytest.mark.slow
def test_a_server_writes_json_lines_with_the_request_id(tmp_path):
    """A real uvicorn with RAG_LOG_FORMAT=json: every line of its log parses, and the access line has the id."""
    log = tmp_path / "server.log"
    with ServerProcess(tmp_path / "data", log, env={"RAG_LOG_FORMAT": "json"}) as server:
        r = httpx.get(f"{server.url}/healthz", headers={"X-Request-ID": "live-1"})
        assert r.headers["X-Request-ID"] == "live-1"
        deadline = time.monotonic() + 10
        while b"live-1" not in log.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.05)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    assert any(line["request_id"] == "live-1" and "/healthz" in line["message"] for line in access), access
    assert any(line["logger"] == "uvicorn.error" and "startup complete" in line["message"] for line in lines)
