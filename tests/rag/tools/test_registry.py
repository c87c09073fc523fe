"""The registry selects tools, checks arguments against their schemas, and every schema suits constrained decoding."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.errors import ConfigError
from rag.model.json_machine import JsonMachine
from rag.tools import Tool, ToolError, ToolRegistry, ToolResult, default_registry, prompt_block
from rag.tools.base import object_schema

NAMES = ["calculator", "sql", "today", "date_add", "days_between"]
# tool -> (arguments it accepts, arguments it refuses)
EXAMPLES: dict[str, tuple[dict, dict]] = {
    "calculator": ({"expression": "17.5% of 2,340"}, {"expression": "1" * 201}),
    "sql": ({"query": "SELECT SUM(amount) FROM expenses"}, {"query": "SELECT 1", "limit": 5}),
    "today": ({}, {"when": "now"}),
    "date_add": ({"date": "2024-02-28", "days": -3}, {"date": "2024-02-28", "days": 1.5}),
    "days_between": ({"start": "2024-01-01", "end": "today"}, {"start": "2024-01-01"}),
}


class Echo(Tool):
    name = "echo"
    description = "Repeats a word."
    parameters = object_schema(
        {
            "word": {"type": "string", "minLength": 2, "maxLength": 5},
            "mode": {"enum": ["loud", "soft"], "type": "string"},
        },
        required=["word"],
    )

    def __call__(self, arguments: dict[str, Any]) -> ToolResult:
        return ToolResult(text=arguments["word"], value=arguments["word"])


@pytest.fixture
def registry(tmp_path):
    pq.write_table(pa.table({"amount": [1.5, 2.0]}), tmp_path / "expenses.parquet")
    return default_registry({"expenses": tmp_path / "expenses.parquet"}, today=lambda: date(2026, 11, 30))


def decodes(machine: JsonMachine, value: object) -> bool:
    """Whether the machine takes the compact JSON of ``value`` byte by byte and may stop after it."""
    state = machine.initial()
    for byte in json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"):
        state = machine.step(state, byte)
        if state is None:
            return False
    return machine.accepting(state)


def test_default_registry_names(registry):
    assert registry.names() == NAMES
    assert default_registry().names() == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_schema_suits_constrained_decoding(registry, name):
    tool = registry.get(name)
    schema = tool.parameters
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert set(schema["required"]) <= set(schema["properties"])
    for prop in schema["properties"].values():
        assert prop["type"] != "string" or "maxLength" in prop, "strings need maxLength so decoding ends"
    machine = JsonMachine(schema)
    good, bad = EXAMPLES[name]
    assert decodes(machine, good)
    assert not decodes(machine, bad)


@pytest.mark.parametrize("name", NAMES)
def test_validator_agrees_with_the_machine(registry, name):
    good, bad = EXAMPLES[name]
    result = registry.call(name, good)
    assert isinstance(result, ToolResult) and result.text
    json.dumps(result.value)
    with pytest.raises(ToolError):
        registry.call(name, bad)


def test_select(registry):
    assert [t.name for t in registry.select(True)] == NAMES
    assert registry.select(False) == []
    assert registry.select(None) == []
    assert [t.name for t in registry.select(["today", "calculator", "today"])] == ["today", "calculator"]
    with pytest.raises(ToolError, match="unknown tools: web_search; the tools are: calculator, sql"):
        registry.select(["calculator", "web_search"])
    with pytest.raises(ToolError, match="true, false or a list"):
        registry.select("calculator")


def test_get_unknown_lists_the_names(registry):
    with pytest.raises(ToolError, match="there is no tool 'python'; the tools are: calculator, sql, today"):
        registry.get("python")
    with pytest.raises(ToolError, match="there is no tool 'python'"):
        registry.call("python", {})


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([1], "tool 'echo' must be an object, got [1]"),
        ({}, "tool 'echo' needs argument 'word' (a string)"),
        ({"word": "hi", "volume": 3}, "tool 'echo' has no argument 'volume'; the arguments are: word, mode"),
        ({"word": 12}, "argument 'word' of tool 'echo' must be a string, got 12"),
        ({"word": "h"}, "argument 'word' of tool 'echo' must have at least 2 characters, got 1"),
        ({"word": "hello!"}, "argument 'word' of tool 'echo' must have at most 5 characters, got 6"),
        (
            {"word": "hi", "mode": "quiet"},
            'argument \'mode\' of tool \'echo\' must be one of "loud", "soft", got "quiet"',
        ),
    ],
)
def test_argument_errors_name_the_argument(arguments, message):
    registry = ToolRegistry([Echo()])
    with pytest.raises(ToolError) as info:
        registry.call("echo", arguments)
    assert str(info.value) == message


def test_integer_arguments(registry):
    with pytest.raises(ToolError, match="argument 'days' of tool 'date_add' must be an integer, got true"):
        registry.call("date_add", {"date": "2024-01-01", "days": True})
    with pytest.raises(ToolError, match='must be an integer, got "3"'):
        registry.call("date_add", {"date": "2024-01-01", "days": "3"})


def test_valid_call_runs_the_tool():
    assert ToolRegistry([Echo()]).call("echo", {"word": "hi", "mode": "loud"}).value == "hi"


def test_bad_tools_are_refused_when_added():
    registry = ToolRegistry([Echo()])
    with pytest.raises(ConfigError, match="already registered"):
        registry.add(Echo())

    class Patterned(Echo):
        name = "patterned"
        parameters = object_schema({"word": {"type": "string", "pattern": "^a"}})

    with pytest.raises(ConfigError, match="keyword 'pattern' is not supported"):
        registry.add(Patterned())

    class Open(Echo):
        name = "open"
        parameters = {"type": "object", "properties": {"word": {"type": "string"}}}

    with pytest.raises(ConfigError, match="additionalProperties"):
        registry.add(Open())
    assert registry.names() == ["echo"]


def test_prompt_block(registry):
    block = prompt_block(registry.select(["calculator", "today"]))
    lines = block.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("calculator: Evaluates an arithmetic expression")
    assert lines[0].endswith(
        'Arguments: {"type":"object","properties":{"expression":{"type":"string","minLength":1,"maxLength":200}},'
        '"required":["expression"],"additionalProperties":false}'
    )
    assert lines[1].startswith("today: Gives today's date")
    assert prompt_block([]) == ""
    assert "expenses(amount DOUBLE)" in prompt_block(registry.select(["sql"]))
