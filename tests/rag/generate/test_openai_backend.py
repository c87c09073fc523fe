"""RAG_GENERATOR=openai: the Generator interface over an OpenAI-compatible server.

The proof is against a real server: llama-cpp-python's own (``python -m llama_cpp.server``, the
``llamacpp`` extra with its ``server`` part) serving the shipped GGUF on loopback; those tests skip
with the reason where it is not installed. The fast tests beside them check the retry timing and
the error messages against a scripted HTTP server on loopback (a real socket, not a mock transport).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from core.errors import ConfigError, ServiceUnavailableError
from rag.generate import load_generator
from rag.generate.base import ChatMessage, GenerationConfig
from rag.generate.openai_backend import MAX_WAIT_SECONDS, OpenAIGenerator, OpenAIServer, retry_wait
from rag.settings import Settings

QUESTION = [ChatMessage("user", "What is the capital of France? Answer in one sentence.")]
GREEDY = GenerationConfig(max_tokens=24, temperature=0.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- a scripted server for the retry and error paths ---------------------------------------------------


class Scripted(BaseHTTPRequestHandler):
    """Answers each request with the next (status, headers, body) of the server's script; GET /models lists one."""

    def do_GET(self) -> None:
        self._answer(200, {}, json.dumps({"object": "list", "data": [{"id": "served-model"}]}))

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.paths.append(self.path)
        self.server.bodies.append(json.loads(body or b"null"))
        status, headers, body = self.server.script.pop(0) if self.server.script else (404, {}, "no such path")
        self._answer(status, headers, body)

    def _answer(self, status: int, headers: dict[str, str], body: str) -> None:
        data = body.encode()
        self.send_response(status)
        for name, value in {"Content-Length": str(len(data)), **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:  # quiet
        pass


class NothingHere(Scripted):
    """A server with no OpenAI API under the configured path: every GET is a 404 too."""

    def do_GET(self) -> None:
        self._answer(404, {}, "Not Found")


@contextlib.contextmanager
def scripted(
    *script: tuple[int, dict[str, str], str], handler: type[Scripted] = Scripted
) -> Iterator[tuple[OpenAIGenerator, list[float], list[str]]]:
    """A generator pointed at a loopback server that plays ``script``; yields it, its waits and the paths hit."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.script, server.paths, server.bodies = list(script), [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    waits: list[float] = []
    generator = OpenAIGenerator(OpenAIServer(f"http://127.0.0.1:{server.server_port}/v1", model="m"), waits.append)
    generator.sent = server.bodies  # what the server received, for the tests that look
    try:
        yield generator, waits, server.paths
    finally:
        generator.close()
        server.shutdown()
        server.server_close()


REPLY = json.dumps(
    {
        "choices": [{"message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3},
    }
)


def test_retry_wait_honours_retry_after_in_seconds_and_as_a_date_and_is_bounded():
    def response(retry_after: str | None) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": retry_after} if retry_after else {})

    assert retry_wait(response("2"), 0) == 2.0
    assert retry_wait(response(None), 0) == 0.5 and retry_wait(response(None), 1) == 1.0  # doubling
    assert retry_wait(response("86400"), 0) == MAX_WAIT_SECONDS
    assert 3.0 <= retry_wait(response(formatdate(time.time() + 5, usegmt=True)), 0) <= 5.0
    assert retry_wait(response("soon"), 2) == 2.0  # unreadable: the backoff


def test_a_busy_server_is_tried_again_after_the_wait_it_asks_for():
    busy = (429, {"Retry-After": "1"}, "slow down")
    with scripted(busy, (503, {}, "loading"), (200, {}, REPLY)) as (generator, waits, _):
        result = generator.generate(QUESTION, GREEDY)
    assert result.text == "Paris." and (result.prompt_tokens, result.generated_tokens) == (12, 3)
    assert waits == [1.0, 1.0]  # Retry-After, then the backoff's second step


def test_a_server_busy_three_times_is_a_503_class_error():
    with scripted(*[(429, {}, "slow down")] * 3) as (generator, waits, paths):
        with pytest.raises(ServiceUnavailableError, match=r"busy \(HTTP 429 after 3 tries\)"):
            generator.generate(QUESTION, GREEDY)
    assert waits == [0.5, 1.0] and len(paths) == 3


def test_an_unknown_model_names_the_models_the_server_lists():
    with scripted((404, {}, '{"error": "model m not found"}')) as (generator, _, _):
        with pytest.raises(ConfigError, match=r"does not serve model 'm'.*RAG_OPENAI_MODEL.*served-model"):
            generator.generate(QUESTION, GREEDY)


def test_a_base_url_without_the_api_says_what_listing_the_models_answered():
    with scripted(handler=NothingHere) as (generator, _, _):
        with pytest.raises(ConfigError, match=r"GET .*/v1/models answered HTTP 404; check RAG_OPENAI_BASE_URL"):
            generator.generate(QUESTION, GREEDY)


def test_a_stream_is_read_up_to_done_past_comments_and_blank_lines():
    events = [
        ": keep-alive",
        'data: {"choices": [{"delta": {"role": "assistant"}}]}',
        'data: {"choices": [{"delta": {"content": "Par"}}]}',
        'data: {"choices": [{"delta": {"content": "is."}, "finish_reason": "length"}]}',
        'data: {"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 2}}',
        "data: [DONE]",
        'data: {"choices": [{"delta": {"content": "after the end"}}]}',
    ]
    with scripted((200, {"Content-Type": "text/event-stream"}, "\n\n".join(events) + "\n\n")) as (generator, _, _):
        pieces: list[str] = []
        result = generator.generate_streaming(QUESTION, GREEDY, pieces.append)
    assert pieces == ["Par", "is."] and result.text == "Paris." and result.finish_reason == "length"
    assert (result.prompt_tokens, result.generated_tokens) == (12, 2)


def test_a_server_without_a_tokenizer_endpoint_gets_the_documented_estimate():
    with scripted() as (generator, _, paths):  # every POST is a 404
        assert generator.count_tokens("x" * 30) == 10 and generator.tokenizer == "estimate"
    assert paths == ["/extras/tokenize/count", "/tokenize"]  # looked for once, then remembered


ARGUMENTS = {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}


def json_reply(text: str) -> str:
    usage = {"prompt_tokens": 9, "completion_tokens": 5}
    return json.dumps({"choices": [{"message": {"content": text}, "finish_reason": "stop"}], "usage": usage})


def test_a_json_constraint_is_sent_as_openais_response_format_first():
    from rag.model.json_machine import JsonMachine

    with scripted((200, {}, json_reply('{"query": "x"}'))) as (generator, _, _):
        result = generator.generate(QUESTION, GREEDY, constraint=JsonMachine(ARGUMENTS))
        sent = generator.sent[0]["response_format"]
    assert result.text == '{"query": "x"}'
    assert sent == {"type": "json_schema", "json_schema": {"name": "arguments", "schema": ARGUMENTS, "strict": True}}


def test_a_server_refusing_that_shape_gets_llama_cpps_and_the_choice_is_kept():
    from rag.model.json_machine import JsonMachine

    refused = (422, {}, '{"detail": "response_format.type: unexpected value json_schema"}')
    ok = (200, {}, json_reply('{"query": "x"}'))
    with scripted(refused, ok, ok) as (generator, _, _):
        generator.generate(QUESTION, GREEDY, constraint=JsonMachine(ARGUMENTS))
        generator.generate(QUESTION, GREEDY, constraint=JsonMachine(ARGUMENTS))
        formats = [body.get("response_format") for body in generator.sent]
    llama = {"type": "json_object", "schema": ARGUMENTS}
    assert formats == [formats[0], llama, llama] and formats[0]["type"] == "json_schema"


def test_a_server_refusing_both_shapes_answers_unconstrained():
    from rag.model.json_machine import JsonMachine

    refused = (400, {}, "unknown field response_format")
    with scripted(refused, refused, (200, {}, json_reply("free text"))) as (generator, _, _):
        result = generator.generate(QUESTION, GREEDY, constraint=JsonMachine(ARGUMENTS))
        assert "response_format" not in generator.sent[-1] and len(generator.sent) == 3
    assert result.text == "free text"  # the caller's schema check fails this tool call (tool_calls)


def test_a_server_that_is_not_running_is_a_503_class_error_naming_the_setting():
    generator = OpenAIGenerator(OpenAIServer(f"http://127.0.0.1:{free_port()}/v1", model="m"))
    with pytest.raises(ServiceUnavailableError, match="cannot reach the model server.*RAG_OPENAI_BASE_URL"):
        generator.generate(QUESTION, GREEDY)


def test_settings_read_the_server_and_refuse_the_backend_without_one():
    s = Settings.from_env(
        {
            "RAG_GENERATOR": "openai",
            "RAG_OPENAI_BASE_URL": "http://127.0.0.1:8080/v1",
            "RAG_OPENAI_API_KEY": "sk-test",
            "RAG_OPENAI_MODEL": "qwen2.5",
        }
    )
    assert (s.openai_base_url, s.openai_api_key, s.openai_model) == ("http://127.0.0.1:8080/v1", "sk-test", "qwen2.5")
    assert "sk-test" not in repr(s)
    with pytest.raises(ConfigError, match="RAG_OPENAI_BASE_URL"):
        Settings(generator="openai")
    with pytest.raises(ConfigError, match="RAG_OPENAI_BASE_URL"):
        load_generator("openai")
    with pytest.raises(ConfigError, match="http"):
        OpenAIServer("127.0.0.1:8080/v1")


# -- against llama-cpp-python's server -------------------------------------------------------------------

needs_server = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llama_cpp.server") is None,
    reason="llama-cpp-python's server is not installed: pip install 'llama-cpp-python[server]' (make llamacpp)",
)


class LlamaServer:
    """``python -m llama_cpp.server`` serving the shipped GGUF on a free loopback port."""

    def __init__(self, gguf: str, log_path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        command = [sys.executable, "-m", "llama_cpp.server", "--model", gguf, "--model_alias", "smollm2"]
        command += ["--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", "4096", "--n_threads", "1"]
        self.log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {self.process.returncode}; see {log_path}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/models", timeout=2).is_success:
                    return
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"llama_cpp.server did not answer in 120 s; see {log_path}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    from rag.model import default_gguf_path

    server = LlamaServer(default_gguf_path(), tmp_path_factory.mktemp("llama-server") / "server.log")
    yield server
    server.stop()


@pytest.mark.slow
@needs_server
def test_generate_and_stream_through_the_server(llama_server):
    generator = OpenAIGenerator(OpenAIServer(llama_server.base_url))  # no model named: the one it lists
    whole = generator.generate(QUESTION, GREEDY)
    assert generator.model == "smollm2"
    assert "Paris" in whole.text and whole.prompt_tokens > 10 and 0 < whole.generated_tokens <= 24
    pieces: list[str] = []
    streamed = generator.generate_streaming(QUESTION, GREEDY, pieces.append)
    assert len(pieces) > 3 and "".join(pieces) == streamed.text == whole.text  # greedy: the same reply
    # this server sends no usage in a stream: the counts come from its tokenizer endpoint
    assert streamed.prompt_tokens > 10 and streamed.generated_tokens > 3 and streamed.prefill_seconds > 0
    assert "".join(generator.stream(QUESTION, GREEDY)) == whole.text
    assert generator.count_tokens("The Eiffel Tower is in Paris.") in range(5, 12)
    assert generator.tokenizer == "server"
    generator.close()


TOWER = (
    b"# The Eiffel Tower\n\nThe Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. "
    b"It is named after the engineer Gustave Eiffel, whose company designed and built the tower from 1887 to 1889.\n"
)


def served_by(base_url: str, tmp_path) -> Settings:
    """The test environment's settings (its allowed host names) with answers written by the server at ``base_url``."""
    return Settings.from_env().replace(data_dir=tmp_path / "data", generator="openai", openai_base_url=base_url)


def openai_client(settings: Settings):
    from litestar.testing import TestClient

    from api.app import create_app
    from rag.platform import Platform

    return TestClient(app=create_app(settings, platform=Platform(settings)))


def upload_tower(client) -> None:
    files = [("files", ("t.md", TOWER, "text/markdown"))]
    r = client.post("/v1/collections/tower/documents?wait=true", files=files)
    assert r.status_code == 201, r.text


@pytest.mark.slow
@needs_server
def test_a_query_is_answered_and_cited_through_the_server(llama_server, tmp_path, embedder):
    settings = served_by(llama_server.base_url, tmp_path)
    with openai_client(settings) as client:
        upload_tower(client)
        question = {"question": "Who is the Eiffel Tower named after?", "mode": "focus", "abstain": False}
        r = client.post("/v1/collections/tower/query", json=question)
        assert r.status_code == 200, r.text
        body = r.json()
    assert "Eiffel" in body["answer"], body["answer"]
    assert body["citations"] and body["citations"][0]["filename"] == "t.md", body


@pytest.mark.slow
@needs_server
def test_tool_arguments_are_written_under_the_schema_by_the_server(llama_server):
    from rag.model.json_machine import JsonMachine

    schema = {"type": "object", "properties": {"city": {"type": "string"}, "year": {"type": "integer"}},
              "required": ["city", "year"], "additionalProperties": False}  # fmt: skip
    generator = OpenAIGenerator(OpenAIServer(llama_server.base_url))
    ask = [ChatMessage("user", "Which city hosted the 1900 World's Fair, and in which year? Answer in JSON.")]
    result = generator.generate(ask, GenerationConfig(max_tokens=40, temperature=0.0), constraint=JsonMachine(schema))
    value = json.loads(result.text)
    assert set(value) == {"city", "year"} and isinstance(value["year"], int), result.text
    assert generator.connection is not None and len(generator._formats) == 2  # llama-cpp-python's shape was used
    generator.close()


@pytest.mark.slow
@needs_server
def test_a_stopped_server_is_a_clear_503_through_the_api(tmp_path, embedder):
    from rag.model import default_gguf_path

    server = LlamaServer(default_gguf_path(), tmp_path / "server.log")
    settings = served_by(server.base_url, tmp_path)
    question = {"question": "Who is the Eiffel Tower named after?", "mode": "focus", "abstain": False}
    with openai_client(settings) as client:
        upload_tower(client)
        assert client.post("/v1/collections/tower/query", json=question).status_code == 200
        server.stop()
        r = client.post("/v1/collections/tower/query", json=question)
    assert r.status_code == 503, r.text
    error = r.json()["error"]
    assert error["code"] == "service_unavailable", error
    assert "cannot reach the model server" in r.text and "RAG_OPENAI_BASE_URL" in r.text
