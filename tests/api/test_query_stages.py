"""A streamed answer tells its stages as they start, and an answer loads the generator only where a stage writes.

Over a real app and store with the real models (the session's embedder, reader and
generator); the document list is documented in the OpenAPI description without them.
"""

from __future__ import annotations

import json

import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.controllers.query import STREAM_DESCRIPTION, STREAM_EVENTS
from rag.pipeline import AnswerOptions, QueryPipeline
from rag.pipeline.records import STAGE_NAMES
from rag.platform import Platform

TOWER = (
    b"The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France.\n"
    b"It is named after the engineer Gustave Eiffel, whose company designed and built the tower from 1887 to 1889.\n"
)
ZEBRA = b"Zebras are African equines with distinctive black-and-white striped coats. They live in herds.\n"


def test_the_stage_event_is_documented_with_every_stage_name():
    assert STREAM_EVENTS[0] == "stage"
    assert all(f"`{name}`" in STREAM_DESCRIPTION for name in STAGE_NAMES)


@pytest.fixture(scope="module")
def client(tmp_path_factory, embedder, generator):
    from rag.settings import Settings

    settings = Settings.from_env().replace(data_dir=tmp_path_factory.mktemp("stages") / "data")
    platform = Platform(settings, generator=generator)
    with TestClient(app=create_app(settings, platform=platform)) as c:
        files = [("files", ("tower.txt", TOWER, "text/plain")), ("files", ("zebra.txt", ZEBRA, "text/plain"))]
        assert c.post("/v1/collections/sights/documents?wait=true", files=files).status_code == 201
        assert c.post("/v1/collections", json={"name": "empty"}).status_code == 201
        yield c
    platform.close()


def stream(client, **question) -> list[tuple[str, dict]]:
    """(event, data) pairs of a streamed answer."""
    out, event = [], "message"
    with client.stream("POST", "/v1/collections/sights/query", json={**question, "stream": True}) as r:
        assert r.status_code == 200, r.read()
        for line in r.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                out.append((event, json.loads(line[5:])))
    return out


@pytest.mark.slow
def test_a_written_answer_streams_its_stages_before_its_first_token(client):
    question = {"question": "Why is the Eiffel Tower named after Gustave Eiffel?", "k": 2, "mode": "passages"}
    events = stream(client, **question, abstain=False)
    first_token = next(i for i, (e, _) in enumerate(events) if e == "token")
    assert events[:first_token] == [
        ("stage", {"stage": "search", "message": "searching 2 documents"}),
        ("stage", {"stage": "write", "message": "writing the answer"}),
    ]
    names = [e for e, _ in events]
    assert names[names.index("stage", first_token) :] == ["stage", "tool_calls", "citations", "sentences", "done"]
    assert events[names.index("stage", first_token)][1]["stage"] == "check"
    assert set(events[-1][1]) >= {"answer", "citations", "timings"}  # the response's shape: no stage in it


def counting(client) -> tuple[QueryPipeline, list[str]]:
    """The app's store and embedder with a generator factory that counts its calls (it hands the real model)."""
    platform = client.app.state.platform
    calls: list[str] = []

    def generator():
        calls.append("generator")
        return platform.generator

    return QueryPipeline(platform.store, lambda: platform.embedder, generator), calls


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["passages", "reader"])
def test_an_empty_collection_abstains_without_loading_the_generator(client, mode):
    pipeline, calls = counting(client)
    answer = pipeline.ask("empty", "Who is the Eiffel Tower named after?", answer=AnswerOptions(mode))
    assert answer.abstained and answer.abstain_reason == "no_passages" and calls == []


@pytest.mark.slow
def test_a_reader_abstention_on_an_off_topic_question_never_loads_the_generator(client):
    pipeline, calls = counting(client)
    answer = pipeline.ask("sights", "What is the boiling point of liquid nitrogen on Jupiter?")
    assert answer.abstained and answer.abstain_reason == "no_answer_found" and calls == []
    assert answer.answer == "I cannot answer this from the documents: none of the passages I found states an answer."
