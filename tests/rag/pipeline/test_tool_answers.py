"""Questions a tool answered (issue 31): the answer states the result, a failed call gets a second try.

Over the fakes of :mod:`tests.rag.pipeline.fakes` and a real SQL tool on a small Parquet
table. The language model is :class:`ScriptedGenerator`, a test double that returns the
tool arguments and the answer it is given, in order; the router (MiniLM in the platform)
is replaced by a choice fixed per test, except where the table-value rule is under test.
"""

from __future__ import annotations

import json

import pytest

from rag.generate.base import GenerationResult
from rag.pipeline import AnswerOptions, QueryPipeline
from rag.pipeline.tool_calls import NONE, CollectionTools
from rag.tools import default_registry
from tests.rag.pipeline.fakes import FakeEmbedder, FakeGenerator, FakeReranker, FakeStore, chunk, grant_tables

SEALS = "The survey team counted 214 grey seals on the island"
PUPS = "Pups were seen near the harbour in March"
TOTAL = "What is the total of the amount_gbp column in grant_expenses.csv?"
TRAVEL = "How much was spent on travel in total?"
DOCUMENT = 7  # the id of grant_expenses.csv, which the table's citation names


class ScriptedGenerator(FakeGenerator):
    """A test double for the language model: tool arguments from ``arguments`` in order, then ``reply``."""

    name = "scripted"
    supports_constraints = True

    def __init__(self, arguments: list[dict], reply: str) -> None:
        super().__init__(reply)
        self.arguments = list(arguments)
        self.constrained: list = []  # the messages of each constrained (tool arguments) call

    def generate(self, messages, config=None, constraint=None):
        if constraint is None:
            return super().generate(messages, config)
        self.constrained.append(messages)
        return GenerationResult(json.dumps(self.arguments.pop(0)), 10, 5, "stop")


@pytest.fixture
def grant(tmp_path) -> CollectionTools:
    return grant_tables(tmp_path, DOCUMENT)


def pipeline(generator, grant: CollectionTools, choice: str | None = "sql", **kwargs) -> QueryPipeline:
    store = FakeStore([chunk(1, 0.9, SEALS), chunk(2, 0.5, PUPS)], [chunk(1, 4.0, SEALS), chunk(2, 2.0, PUPS)])
    reranker = FakeReranker()
    p = QueryPipeline(
        store, FakeEmbedder, lambda: generator, reranker=lambda name: reranker, tools=lambda q: grant, **kwargs
    )
    if choice is not None:  # the router's choice, fixed (the fake embedder's vectors are arbitrary)
        p.tool_calls.choose = lambda question, names: choice
    return p


SQL = AnswerOptions(mode="focus", tools=("sql",))  # "extract" would score spans with a tokenizer


def test_the_answer_states_the_tools_result_and_drops_the_models_own_arithmetic(grant):
    # issue 31: SUM(amount_gbp) = 253.64 ran, and the answer was "... 214 + 2 = 238 grey seals"
    generator = ScriptedGenerator(
        [{"query": "SELECT SUM(amount_gbp) FROM grant_expenses"}],
        "The survey team counted 214 grey seals [1]. Answer: The total of the amount_gbp column is "
        "214 + 2 = 238 grey seals.",
    )
    answer = pipeline(generator, grant).ask("docs", TOTAL, k=2, answer=SQL)
    assert not answer.abstained
    assert answer.answer.startswith("sum(amount_gbp) = 253.64 [3].")
    assert "238" not in answer.answer
    first = answer.sentences[0]
    assert first.supported and first.cited == (3,) and answer.answer[first.start : first.end].startswith("sum(")
    table = next(c for c in answer.citations if c.number == 3)
    assert table.document_id == DOCUMENT and table.filename == "grant_expenses.csv"
    # what the model wrote that a retrieved passage supports stays, with its offsets in the new text
    assert [s.text for s in answer.sentences[1:]] == ["The survey team counted 214 grey seals."]
    kept = answer.sentences[1]
    assert answer.answer[kept.start : kept.end] == "The survey team counted 214 grey seals [1]."
    assert all(s.supported for s in answer.sentences)


def test_a_failed_sql_call_is_tried_again_with_its_error_and_the_answer_states_the_result(grant):
    generator = ScriptedGenerator(
        [
            {"query": "SELECT SUM(travel_amount) FROM grant_expenses"},  # the invented column
            {"query": "SELECT SUM(amount_gbp) FROM grant_expenses WHERE category = 'travel'"},
        ],
        "I do not know.",
    )
    answer = pipeline(generator, grant).ask("docs", TRAVEL, k=2, answer=SQL)
    failed, retried = answer.tool_calls
    assert failed.error and failed.result is None and "travel_amount" in failed.arguments["query"]
    assert retried.ok and retried.result.value["rows"] == [[pytest.approx(159.9)]]
    # the second try's prompt holds the failed arguments and the error (which names the real columns)
    second = generator.constrained[1]
    assert "SUM(travel_amount)" in second[0].content and failed.error[:80] in second[0].content
    assert second[-1].content == TRAVEL
    assert "159.9" in answer.answer and not answer.abstained
    assert [t.error is None for t in answer.tool_calls] == [False, True]


def test_a_question_a_tool_answered_does_not_abstain_for_want_of_a_relevant_passage(grant):
    generator = ScriptedGenerator(
        [
            {"query": "SELECT SUM(travel_amount) FROM grant_expenses"},
            {"query": "SELECT SUM(amount_gbp) FROM grant_expenses WHERE category = 'travel'"},
        ],
        "Nothing here is about money.",
    )
    answer = pipeline(generator, grant, abstain_threshold=100.0).ask("docs", TRAVEL, k=2, answer=SQL)
    assert not answer.abstained and answer.abstain_reason is None
    assert answer.answer.startswith("sum(amount_gbp) = 159.9 [3].")


def test_a_call_that_fails_twice_is_reported_twice_and_the_answer_goes_on_without_it(grant):
    bad = {"query": "SELECT SUM(travel_amount) FROM grant_expenses"}
    generator = ScriptedGenerator([bad, bad], "The survey team counted 214 grey seals [1].")
    answer = pipeline(generator, grant).ask("docs", TRAVEL, k=2, answer=SQL)
    assert [c.ok for c in answer.tool_calls] == [False, False] and len(generator.constrained) == 2
    assert [p.number for p in answer.passages] == [1, 2]  # a failed call adds no passage


def test_sql_without_tables_is_not_tried_twice():
    generator = ScriptedGenerator([{"query": "SELECT 1"}], "x")
    empty = CollectionTools(default_registry({}))
    answer = pipeline(generator, empty).ask("docs", TOTAL, k=2, answer=SQL.replace(abstain=False))
    (call,) = answer.tool_calls
    assert "upload" in call.error and len(generator.constrained) == 1


def test_a_question_naming_a_tables_value_and_asking_how_much_goes_to_sql(grant):
    generator = ScriptedGenerator(
        [{"query": "SELECT SUM(amount_gbp) FROM grant_expenses WHERE category = 'travel'"}], "x"
    )
    p = pipeline(generator, grant, choice=NONE)  # the examples route it nowhere
    answer = p.ask("docs", TRAVEL, k=2, answer=SQL)
    (call,) = answer.tool_calls
    assert call.ok and "159.9" in answer.answer
    # the worked examples filter the real table on the value the question names
    asked = [m.content for m in generator.constrained[0] if m.role == "user"]
    assert asked[-2:] == ["What is the total amount_gbp where category is travel?", TRAVEL]

    nothing = ScriptedGenerator([], "The survey team counted 214 grey seals [1].")
    p = pipeline(nothing, grant, choice=NONE)
    assert p.ask("docs", "Why was travel booked by train?", k=2, answer=SQL).tool_calls == []  # no amount asked


def test_brackets_in_a_result_are_not_read_as_markers(grant):
    generator = ScriptedGenerator([{"query": "SELECT [1, 2] AS ids"}], "I do not know.")
    answer = pipeline(generator, grant).ask("docs", TOTAL, k=2, answer=SQL)
    assert answer.tool_calls[0].result.text == "ids = [1, 2]"
    assert answer.answer == "ids = (1, 2) [3]." and [c.number for c in answer.citations] == [3]


@pytest.mark.parametrize(
    "choice,stages", [("sql", ["search", "tools", "write", "check"]), (NONE, ["search", "write", "check"])]
)
def test_a_tool_that_runs_is_a_stage_of_its_own(grant, choice, stages):
    generator = ScriptedGenerator([{"query": "SELECT SUM(amount_gbp) FROM grant_expenses"}], "I do not know.")
    heard = []
    pipeline(generator, grant, choice).ask("docs", TOTAL, k=2, answer=SQL, on_stage=heard.append)
    assert [s.name for s in heard] == stages
    if choice == "sql":
        assert heard[1].message == "running the SQL tool"
