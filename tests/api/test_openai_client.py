"""The official ``openai`` package (sync, async, streaming) against a real server process on the loopback.

The server (``uvicorn api.app:create_app``, rag.bench.server_process) enforces keys;
it holds one collection of the two API fixture documents. Answers are in the
platform's default mode (reader), so the reader and the embedder load, not the
generator.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import numpy as np
import pytest

from rag.bench.server_process import ServerProcess
from tests.conftest import FIXTURES

openai = pytest.importorskip("openai")

pytestmark = pytest.mark.slow

ADMIN = "admin-secret-for-openai-client-tests"
MODEL = "rag:guide"
DISK = "How much disk space does the Quarkdown installer need?"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("openai-client")
    server = ServerProcess(folder / "data", folder / "server.log", env={"RAG_ADMIN_KEY": ADMIN}).start()
    try:
        files = [("files", (p.name, p.read_bytes())) for p in sorted((FIXTURES / "api").iterdir())]
        r = httpx.post(f"{server.url}/v1/collections/guide/documents?wait=true", files=files,
                       headers={"Authorization": f"Bearer {ADMIN}"}, timeout=300)  # fmt: skip
        assert r.status_code == 201, r.text
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=ADMIN, timeout=300, max_retries=0)


def test_the_models_are_the_collections(client):
    assert [m.id for m in client.models.list() if m.owned_by == "localrag"] == [MODEL]
    assert "gguf:SmolLM2-135M-Instruct.Q4_1" in [m.id for m in client.models.list()]  # and the generator models


def test_a_cited_answer(client):
    completion = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": DISK}])
    text = completion.choices[0].message.content
    assert "40 MB" in text and "[1]" in text, text
    assert "\n\nSources:\n1. guide.md, chars " in text, text
    assert completion.choices[0].finish_reason == "stop" and completion.object == "chat.completion"
    (citation,) = completion.model_extra["citations"]
    assert citation["filename"] == "guide.md" and citation["how"] == "reader"
    quote = citation["quote"][citation["quote_span_start"] : citation["quote_span_end"]]
    assert "40 MB" in quote and citation["char_start"] <= citation["span_start"] < citation["span_end"]


def test_a_streamed_answer_ends_with_citations(client):
    stream = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": DISK}], stream=True)
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert "40 MB" in text and "Sources:\n1. guide.md" in text, text
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["citations"][0]["filename"] == "guide.md"
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)


def test_the_raw_stream_is_data_events_ending_with_done(server):
    body = {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": DISK}]}
    headers = {"Authorization": f"Bearer {ADMIN}"}
    with httpx.stream("POST", f"{server.url}/v1/chat/completions", json=body, headers=headers, timeout=300) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        raw = r.read().decode()
    events = raw.split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""], raw[-200:]
    assert all(e.startswith("data: ") for e in events[:-1])
    assert json.loads(events[-3][6:])["choices"][0]["finish_reason"] == "stop"


def test_a_follow_up_question_with_the_async_client(server):
    async def ask() -> tuple:
        async with openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key=ADMIN, timeout=300) as client:
            first = await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": DISK}])
            history = [
                {"role": "user", "content": DISK},
                {"role": "assistant", "content": first.choices[0].message.content},
                {"role": "user", "content": "Does it need administrator rights?"},
            ]
            return first, await client.chat.completions.create(model=MODEL, messages=history)

    first, follow_up = asyncio.run(ask())
    rag = follow_up.model_extra["rag"]
    assert rag["rewritten"] and "Quarkdown installer" in rag["question"], rag
    assert follow_up.model_extra["citations"][0]["filename"] == "guide.md", follow_up.choices[0].message.content


def test_embeddings_are_the_collections_embedder(client, server):
    texts = ["espresso machine", "Quarkdown installer"]
    default = client.embeddings.create(model=MODEL, input=texts)  # the client asks for base64 and decodes it
    floats = client.embeddings.create(model=MODEL, input=texts, encoding_format="float")
    a = np.array([d.embedding for d in default.data], dtype=np.float32)
    b = np.array([d.embedding for d in floats.data], dtype=np.float32)
    assert a.shape == (2, 384) and np.allclose(a, b, atol=1e-6) and np.allclose(np.linalg.norm(a, axis=1), 1, 1e-3)
    assert default.usage.prompt_tokens > 0 and default.model == MODEL


def test_an_unknown_model_and_a_wrong_key_raise_the_clients_own_errors(client, server):
    with pytest.raises(openai.NotFoundError) as found:
        client.chat.completions.create(model="rag:nope", messages=[{"role": "user", "content": DISK}])
    assert found.value.code == "model_not_found" and found.value.status_code == 404
    wrong = openai.OpenAI(base_url=f"{server.url}/v1", api_key="rag_wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as refused:
        wrong.models.list()
    assert refused.value.code == "invalid_api_key"


def test_a_generating_mode_streams_its_tokens_within_the_clients_limits(client):
    """mode focus (the local generator) through extra_body: the text comes token by token, and max_tokens,
    temperature and stop reach the generation (its usage counts at most max_tokens)."""
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Explain how to install Quarkdown."}],
        stream=True,
        max_tokens=12,
        temperature=0.3,
        stop=["\n\n\n"],
        extra_body={"mode": "focus"},
    )
    chunks = list(stream)
    pieces = [c.choices[0].delta.content for c in chunks[1:-1] if c.choices[0].delta.content]
    assert len(pieces) >= 3, pieces  # streamed as written, not in one piece
    last = chunks[-1]
    assert last.choices[0].finish_reason in ("stop", "length") and last.model_extra["rag"]["mode"] == "focus"
    assert 0 < last.usage.completion_tokens <= 12, last.usage
