"""Mode "reader" over REST: the default answer is a span, cited with its exact characters and its sentence.

The fast tests convert hand-built answers as the controller does (no model); the
slow ones ask a real app, with the shipped reader weights.
"""

from __future__ import annotations

import json

import msgspec
import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.controllers.query import query_response
from rag.cli.ask import print_answer
from rag.pipeline import Answer, Passage
from rag.pipeline.citations import citation_of
from rag.pipeline.reading import SpanAnswer, holding_sentence
from rag.pipeline.support import reader_sentence
from rag.platform import Platform
from rag.store import StoredChunk

TOWER = (
    "# The Eiffel Tower\n\nThe Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. "
    "It is named after the engineer Gustave Eiffel, whose company designed and built the tower from 1887 to 1889.\n"
)
ZEBRA = "Zebras are African equines with distinctive black-and-white striped coats. They live in herds.\n"


def chunk(text: str, char_start: int, prefix_chars: int = 0, filename: str = "tower.md", page=None) -> StoredChunk:
    """A stored chunk of ``text`` that starts at ``char_start`` of its document (after ``prefix_chars`` of header)."""
    end = char_start + len(text) - prefix_chars
    return StoredChunk(11, 7, filename, None, 0, text, page, char_start, end, (), 0.8, prefix_chars)


def span_at(passage: Passage, words: str, margin: float = 3.5) -> SpanAnswer:
    """The reader's span ``words`` in ``passage``, as ReadPassages states it."""
    text = passage.chunk.text
    start = text.index(words)
    end = start + len(words)
    s_start, s_end = holding_sentence(text, start, end)
    return SpanAnswer(passage.number, words, start, end, s_start, s_end, margin, 0.97)


def reader_answer(passage: Passage, span: SpanAnswer, others: list[Passage]) -> Answer:
    """An answer as QueryPipeline._answer_reader builds it."""
    text = f"{span.text} [{span.passage}]"
    citations = [citation_of(passage, "reader", span)]
    sentences = [reader_sentence(span, text)]
    return Answer(text, citations, [passage, *others], sentences=sentences, mode="reader", span=span)


def body_of(answer: Answer) -> dict:
    """The JSON a client reads: the controller's conversion, encoded and decoded."""
    return json.loads(msgspec.json.encode(query_response(answer)))


def test_a_reader_answer_converts_with_its_span_and_the_sentence_that_holds_it():
    doc = "Preface.\n\n" + TOWER  # the chunk starts 10 characters into its document
    passage = Passage(2, chunk(TOWER, 10))
    span = span_at(passage, "Gustave Eiffel")
    body = body_of(reader_answer(passage, span, [Passage(1, chunk(ZEBRA, 0, filename="zebra.txt"))]))
    assert body["mode"] == "reader" and not body["abstained"] and body["answer"] == "Gustave Eiffel [2]"
    assert body["span"] == {
        "passage": 2,
        "text": "Gustave Eiffel",
        "start": span.start,
        "end": span.end,
        "sentence_start": span.sentence_start,
        "sentence_end": span.sentence_end,
        "margin": 3.5,
        "confidence": 0.97,
    }
    (cited,) = body["citations"]
    assert cited["how"] == "reader" and cited["number"] == 2
    assert cited["quote"].startswith("It is named after") and cited["quote"].rstrip().endswith("1889.")
    assert cited["quote"][cited["quote_span_start"] : cited["quote_span_end"]] == "Gustave Eiffel"
    assert doc[cited["span_start"] : cited["span_end"]] == "Gustave Eiffel"
    (sentence,) = body["sentences"]
    assert sentence["how"] == "reader" and sentence["supported"] and sentence["cited"] == [2]
    assert [p["number"] for p in body["passages"]] == [2, 1]


def test_an_abstention_keeps_the_closest_span_and_its_passages():
    passage = Passage(1, chunk(TOWER, 0))
    span = span_at(passage, "Paris", margin=-2.0)
    answer = Answer(
        "I cannot answer this from the documents: none of the passages I found states an answer.",
        [],
        [passage],
        abstained=True,
        abstain_reason="no_answer_found",
        mode="reader",
        span=span,
    )
    body = body_of(answer)
    assert body["abstained"] and body["abstain_reason"] == "no_answer_found" and body["citations"] == []
    assert body["span"]["text"] == "Paris" and body["span"]["margin"] == -2.0
    assert body["passages"][0]["text"] == TOWER


def test_a_span_in_a_repeated_table_header_has_no_document_range():
    header = "date,category,amount\n"
    rows = "2024-02-02,travel,1310.00\n"
    passage = Passage(1, chunk(header + rows, 400, prefix_chars=len(header), filename="expenses.csv"))
    body = body_of(reader_answer(passage, span_at(passage, "category"), []))
    (cited,) = body["citations"]
    assert cited["span_start"] is None and cited["span_end"] is None
    assert cited["quote"][cited["quote_span_start"] : cited["quote_span_end"]] == "category"


def test_the_generating_modes_carry_no_span():
    passage = Passage(1, chunk(TOWER, 0))
    answer = Answer("Paris [1].", [citation_of(passage, "marker")], [passage], mode="extract")
    body = body_of(answer)
    assert body["span"] is None
    assert {body["citations"][0][k] for k in ("span_start", "span_end", "quote", "quote_span_start")} == {None}


def test_rag_ask_prints_the_quoted_sentence_and_where_the_span_is(capsys):
    passage = Passage(1, chunk(TOWER, 10, page=3))
    print_answer(body_of(reader_answer(passage, span_at(passage, "Gustave Eiffel"), [])))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Gustave Eiffel [1]"
    start = 10 + TOWER.index("Gustave Eiffel")
    assert lines[1] == (
        '> "It is named after the engineer Gustave Eiffel, whose company designed and built the tower from 1887 '
        f'to 1889." — tower.md, page 3, characters {start}-{start + len("Gustave Eiffel")}'
    )


def test_rag_ask_cuts_a_long_sentence_around_the_span(capsys):
    long = "word " * 100 + "the answer is Quarkdown here " + "word " * 100 + "end."
    passage = Passage(1, chunk(long, 0))
    print_answer(body_of(reader_answer(passage, span_at(passage, "Quarkdown"), [])))
    quote = capsys.readouterr().out.splitlines()[1]
    assert quote.startswith('> "…') and "the answer is Quarkdown here" in quote and '…" — tower.md' in quote
    assert len(quote) < 320


def test_rag_ask_names_the_closest_span_when_it_abstains(capsys):
    passage = Passage(1, chunk(TOWER, 0))
    answer = Answer("I cannot answer this.", [], [passage], abstained=True, mode="reader")
    answer.span = span_at(passage, "Paris", margin=-2.0)
    print_answer(body_of(answer))
    out = capsys.readouterr().out
    assert 'Closest span, not taken (confidence 0.97): "Paris" [1]' in out and "Closest passages:" in out


@pytest.fixture(scope="module")
def schema_client(tmp_path_factory):
    from rag.settings import Settings

    platform = Platform(Settings.from_env().replace(data_dir=tmp_path_factory.mktemp("reader-schema") / "data"))
    with TestClient(app=create_app(platform=platform)) as c:
        yield c
    platform.close()


def test_the_openapi_document_describes_the_span_and_the_quote(schema_client):
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema comes with schemathesis, in the [test] extra")
    components = schema_client.get("/schema/openapi.json").json()["components"]
    schemas = components["schemas"]
    span = schemas["QueryResponse"]["properties"]["span"]
    assert {"$ref": "#/components/schemas/SpanOut"} in span["oneOf"] and {"type": "null"} in span["oneOf"]
    assert set(schemas["SpanOut"]["required"]) == {f.name for f in SpanAnswer.__dataclass_fields__.values()}
    citation = schemas["CitationOut"]["properties"]
    assert {"span_start", "span_end", "quote", "quote_span_start", "quote_span_end"} <= set(citation)
    assert "span_start" not in schemas["CitationOut"]["required"]
    # what the controller sends conforms to the document: an answer, an abstention with its closest span
    passage = Passage(1, chunk(TOWER, 0))
    answered = reader_answer(passage, span_at(passage, "Gustave Eiffel"), [])
    abstained = Answer("I cannot answer this.", [], [passage], abstained=True, mode="reader", span=answered.span)
    document = {"$ref": "#/components/schemas/QueryResponse", "components": components}
    for answer in (answered, abstained):
        jsonschema.validate(body_of(answer), document, cls=jsonschema.Draft202012Validator)


# -- with the real models ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(tmp_path_factory, embedder):
    from rag.settings import Settings

    settings = Settings.from_env().replace(data_dir=tmp_path_factory.mktemp("reader") / "data")
    platform = Platform(settings)
    with TestClient(app=create_app(settings, platform=platform)) as c:
        files = [("files", ("tower.md", TOWER.encode(), "text/markdown")), ("files", ("zebra.txt", ZEBRA.encode()))]
        r = c.post("/v1/collections/sights/documents?wait=true", files=files)
        assert r.status_code == 201, r.text
        c.texts = {}
        for document_id in r.json()["document_ids"]:
            doc = c.get(f"/v1/collections/sights/documents/{document_id}?text=true").json()
            c.texts[document_id] = doc["text"]
        yield c
    platform.close()


def ask(client, question: str, **fields) -> dict:
    r = client.post("/v1/collections/sights/query", json={"question": question, **fields})
    assert r.status_code == 200, r.text
    return r.json()


def assert_span_is_cited_exactly(client, body: dict) -> None:
    """The answer states the span and cites it: its sentence quoted, its characters in the document."""
    span = body["span"]
    assert body["answer"] == f"{span['text']} [{span['passage']}]"
    (cited,) = body["citations"]
    assert cited["how"] == "reader" and cited["number"] == span["passage"]
    assert cited["quote"][cited["quote_span_start"] : cited["quote_span_end"]] == span["text"]
    assert client.texts[cited["document_id"]][cited["span_start"] : cited["span_end"]] == span["text"]
    passage = next(p for p in body["passages"] if p["number"] == span["passage"])
    assert passage["text"][span["start"] : span["end"]] == span["text"]
    assert passage["text"][span["sentence_start"] : span["sentence_end"]] == cited["quote"]


@pytest.mark.slow
def test_a_span_is_cited_with_its_sentence_and_exact_characters(client):
    """What holds for any span the reader picks (abstain false: a span even where it doubts)."""
    body = ask(client, "Who is the Eiffel Tower named after?", abstain=False)
    assert body["mode"] == "reader" and not body["abstained"] and body["relevance"] is None
    assert_span_is_cited_exactly(client, body)
    assert "read" in body["timings"] and "generate" not in body["timings"]
    assert body["usage"] == {"prompt_tokens": 0, "generated_tokens": 0}


@pytest.mark.slow
def test_the_default_answer_is_the_readers_span(client):
    body = ask(client, "Who is the Eiffel Tower named after?")
    assert body["mode"] == "reader" and not body["abstained"], body["answer"]
    assert "Gustave Eiffel" in body["span"]["text"], body["span"]
    assert_span_is_cited_exactly(client, body)
    assert 0.5 < body["span"]["confidence"] <= 1 and body["span"]["margin"] > 0


@pytest.mark.slow
def test_a_question_the_documents_do_not_answer_abstains_and_lists_passages(client):
    body = ask(client, "What is the boiling point of liquid nitrogen on Jupiter?")
    assert body["mode"] == "reader" and body["abstained"], body["answer"]
    assert body["abstain_reason"] == "no_answer_found" and "cannot answer" in body["answer"]
    assert body["passages"] and body["citations"] == [] and body["sentences"] == []


@pytest.mark.slow
def test_a_streamed_reader_answer_ends_with_the_span(client):
    question = {"question": "Who is the Eiffel Tower named after?", "abstain": False}
    whole = ask(client, **question)
    with client.stream("POST", "/v1/collections/sights/query", json={**question, "stream": True}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events, name = [], "message"
        for line in r.iter_lines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                events.append((name, json.loads(line[5:])))
    assert [e for e, _ in events] == ["stage", "stage", "token", "tool_calls", "citations", "sentences", "done"]
    assert [d for _, d in events[:2]] == [
        {"stage": "search", "message": "searching 2 documents"},
        {"stage": "read", "message": "reading 2 passages"},
    ]
    assert events[2][1] == {"text": whole["answer"]}
    done = events[-1][1]
    assert done["span"] == whole["span"] and done["citations"] == whole["citations"]
