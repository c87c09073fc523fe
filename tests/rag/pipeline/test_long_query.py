"""A long query (a pasted paragraph, a whole argument) is searched, each stage reading what it can of it."""

import pytest

from ingest.errors import PayloadTooLargeError
from rag.pipeline.query import QueryPipeline
from rag.pipeline.request import MAX_QUERY_CHARS, PROMPT_QUESTION_TOKENS, SearchOptions
from tests.rag.pipeline.fakes import FakeEmbedder, FakeGenerator, FakeReranker, FakeStore, chunk

# 4,671 characters, as the query the issue reports refused ("the limit is 4000")
ARGUMENT = ("Espresso machines need descaling because hard water leaves scale in the boiler. " * 60)[:4671]


def pipeline(store, generator, loaded):
    def embedder():
        loaded.append("embedder")
        return FakeEmbedder()

    def gen():
        loaded.append("generator")
        return generator

    return QueryPipeline(store, embedder, gen, reranker=lambda name: FakeReranker())


def store():
    return FakeStore(
        [chunk(1, 0.9, "espresso machines need descaling"), chunk(2, 0.5, "tea")],
        [chunk(1, 4.0, "espresso machines need descaling"), chunk(3, 2.0, "espresso beans")],
    )


def test_a_query_of_4671_characters_is_searched():
    assert len(ARGUMENT) == 4671
    s, gen = store(), FakeGenerator("Scale builds up in boilers.")
    p = pipeline(s, gen, [])
    assert p.query("docs", ARGUMENT, 5).text == ARGUMENT.strip()
    r = p.search("docs", ARGUMENT, k=2, options=SearchOptions(fusion="rrf", hyde=True, rerank="maxsim"))
    assert [h.chunk_id for h in r.hits][:1] == [1]
    assert s.texts == [ARGUMENT.strip()]  # BM25 gets every term (the index bounds the distinct ones)
    ((messages, _config),) = gen.calls
    prompt = messages[-1].content
    assert ARGUMENT[:200] in prompt and len(prompt.split()) < PROMPT_QUESTION_TOKENS + 30  # HyDE: its beginning


def test_a_query_over_the_hard_limit_is_refused_as_too_large_before_any_model_loads():
    loaded: list[str] = []
    p = pipeline(store(), FakeGenerator(), loaded)
    with pytest.raises(PayloadTooLargeError, match=f"the limit is {MAX_QUERY_CHARS:,}"):
        p.search("docs", "x" * (MAX_QUERY_CHARS + 1), k=2)
    with pytest.raises(PayloadTooLargeError, match="question is"):
        p.ask("docs", "why " * MAX_QUERY_CHARS, k=2)
    assert loaded == []


def test_a_long_question_keeps_its_beginning_in_every_prompt():
    """A pasted page asked as a question must not overflow the generator's context (it was a 400 ConfigError)."""
    from rag.pipeline.prompt import PromptBuilder
    from rag.pipeline.request import PROMPT_QUESTION_TOKENS
    from rag.store import StoredChunk

    words = lambda s: len(s.split())  # noqa: E731
    question = "why " * 20_000
    chunk = StoredChunk(1, 1, "a.txt", None, 0, "Seals breed on islands.", None, 0, 23, (), 1.0)
    builder = PromptBuilder(words, max_context_tokens=100)
    whole, _ = builder(question, [chunk])
    focused = builder.focused(question, [(1, "Seals breed on islands.")])
    for messages in (whole, focused):
        asked = messages[-1].content.split("Question: ", 1)[1]
        assert 0 < words(asked) <= PROMPT_QUESTION_TOKENS and question.startswith(asked)
