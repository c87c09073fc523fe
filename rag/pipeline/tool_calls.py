"""Tool calls in the query path: the model picks a tool and writes its arguments under constraints.

Two steps, each of which can only produce a valid call:

1. the choice: each allowed tool name and ``none`` is scored as a whole reply
   by the model (``TorchGenerator.choose``), and the likeliest wins. A greedy
   decode constrained to the names (:class:`rag.model.constraints.ChoiceMachine`)
   commits on the first token and picked a date tool for "What is 17.5% of 2,340?";
2. the arguments: constrained decoding, so the output is JSON that conforms to
   the tool's schema (:class:`rag.model.json_machine.JsonMachine`).

The call then runs through the registry (which checks the arguments again). A
result becomes a numbered passage of the answer's prompt, so the answer cites it;
a failed call is reported with its error and adds no passage. A SQL result cites
the document its table came from (the table's span in that document).

The prompts carry a few worked examples of each tool. They are written for this
module (generic arithmetic, dates and a made-up ``sales`` table), not taken from
any evaluation set.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from indexes.errors import InvalidInputError
from rag.generate.base import ChatMessage, GenerationConfig, Generator
from rag.model.json_machine import JsonMachine
from rag.pipeline.answer import constrainable
from rag.pipeline.request import Query
from rag.store import Store, StoredChunk
from rag.tools import ToolError, ToolRegistry, ToolResult, default_registry

NONE = "none"
CHOICE_SYSTEM = "Decide whether the question needs a tool. Reply with the tool's name, or none."
ARGUMENTS_SYSTEM = "Write the arguments of the tool call as JSON."
ARGUMENT_TOKENS = 160  # the longest argument object (an SQL query of 500 characters is rarely reached)
# Worked examples per tool: (question, arguments). Generic, written for these prompts.
# A small model leans on the last example it read, so each tool's most common form comes last.
EXAMPLES: dict[str, list[tuple[str, dict]]] = {
    "calculator": [
        ("How much is 3 times 4.5?", {"expression": "3 * 4.5"}),
        ("What is 12% of 1,500?", {"expression": "12% of 1,500"}),
    ],
    "sql": [
        ("How many rows of sales have region West?", {"query": "SELECT COUNT(*) FROM sales WHERE region = 'West'"}),
        ("What is the total of the price column in sales.csv?", {"query": "SELECT SUM(price) FROM sales"}),
    ],
    "today": [("What is the date today?", {})],
    "date_add": [("What date is 30 days after 2024-01-15?", {"date": "2024-01-15", "days": 30})],
    "days_between": [
        ("How many days are there from 2024-01-01 to 2024-03-01?", {"start": "2024-01-01", "end": "2024-03-01"})
    ],
}
NONE_EXAMPLES = ["Who founded the company?", "Why did the project fail?"]


@dataclass(frozen=True)
class ToolCall:
    """One call the model made.

    Attributes:
        name: the tool.
        arguments: the arguments object the model wrote.
        result: what it returned (None when it failed).
        error: why it failed (None when it ran).
        document: (document id, filename, char_start, char_end) that a result comes from, if any.
    """

    name: str
    arguments: dict[str, Any]
    result: ToolResult | None = None
    error: str | None = None
    document: tuple[int, str, int, int] | None = field(default=None)

    @property
    def ok(self) -> bool:
        return self.result is not None

    def chunk(self) -> StoredChunk:
        """The result as a passage: it cites the source document's span when there is one."""
        assert self.result is not None
        doc_id, filename, start, end = self.document or (-1, f"{self.name} tool", 0, 0)
        text = f"{self.name}({json.dumps(self.arguments, ensure_ascii=False)}) -> {self.result.text}"
        return StoredChunk(-1, doc_id, filename, None, 0, text, None, start, end, (), 1.0)


@dataclass(frozen=True)
class CollectionTools:
    """The tools a collection's questions may call, and where its tables come from.

    Attributes:
        registry: the tools.
        tables: table name -> (document id, filename, char_start, char_end) of the table in its document.
    """

    registry: ToolRegistry
    tables: dict[str, tuple[int, str, int, int]] = field(default_factory=dict)


class ToolCalls:
    """Let the model call at most one tool for a question.

    Args:
        generator: returns the language model (must take constraints).
        tools: returns the tools of a query's collection.
    """

    def __init__(self, generator: Callable[[], Generator], tools: Callable[[Query], CollectionTools]) -> None:
        self.generator = generator
        self.tools = tools

    def check(self, query: Query, spec: bool | tuple[str, ...]) -> None:
        """Raise (a 4xx) for unknown tool names, before any work is done."""
        if spec:
            self.tools(query).registry.select(spec if spec is True else list(spec))

    def __call__(self, query: Query, spec: bool | tuple[str, ...]) -> list[ToolCall]:
        available = self.tools(query)
        registry = available.registry
        tools = registry.select(spec if spec is True else list(spec))
        if not tools:
            return []
        generator = self.generator()
        if not constrainable(generator):
            raise InvalidInputError(
                f"tool calls need constrained decoding, which the {generator.name} generator does not offer; "
                "use the torch generator or tools: false"
            )
        names = [t.name for t in tools]
        listing = "\n".join(f"- {t.name}: {t.description}" for t in tools)
        # Worked examples as earlier turns of the chat (a small chat model follows turns far better than
        # examples inside one message): every example of every allowed tool, and questions that need none.
        shots = [(q, NONE) for q in NONE_EXAMPLES] + [(q, name) for name in names for q, _ in EXAMPLES.get(name, [])]
        turns = [ChatMessage("system", f"{CHOICE_SYSTEM}\nTools:\n{listing}\n- none: no tool is needed")]
        for question, name in shots:
            turns += [ChatMessage("user", question), ChatMessage("assistant", name)]
        # each whole name is scored (a greedy constrained decode would commit on its first token)
        choice = generator.choose([*turns, ChatMessage("user", query.text)], [*names, NONE])
        if choice not in names:
            return []
        tool = registry.get(choice)
        turns = [ChatMessage("system", f"{ARGUMENTS_SYSTEM}\nTool {tool.name}: {tool.description}")]
        for question, arguments in EXAMPLES.get(choice, []):
            turns += [ChatMessage("user", question), ChatMessage("assistant", json.dumps(arguments))]
        written = generator.generate(
            [*turns, ChatMessage("user", query.text)],
            GenerationConfig(max_tokens=ARGUMENT_TOKENS),
            constraint=JsonMachine(tool.parameters),
        ).text
        try:
            arguments = json.loads(written)
        except json.JSONDecodeError:  # the token budget ran out inside the value
            return [ToolCall(choice, {}, error=f"the model's arguments were cut off: {written!r}")]
        try:
            result = registry.call(choice, arguments)
        except ToolError as exc:
            return [ToolCall(choice, arguments, error=str(exc))]
        return [ToolCall(choice, arguments, result, document=source_of(available, choice, arguments))]


def source_of(available: CollectionTools, name: str, arguments: dict) -> tuple[int, str, int, int] | None:
    """The document span a result comes from: the first table an SQL query names."""
    if name == "sql":
        sql = str(arguments.get("query", ""))
        for table, where in available.tables.items():
            if re.search(rf"\b{re.escape(table)}\b", sql, re.IGNORECASE):
                return where
    return None


def collection_tools(store: Store) -> Callable[[Query], CollectionTools]:
    """The default tools of a query's collection: calculator, dates, and SQL over its stored tables."""

    def tools(query: Query) -> CollectionTools:
        tables = store.tables(query.collection)
        return CollectionTools(
            default_registry({t.name: t.path for t in tables}),
            {t.name: (t.document_id, t.filename, t.char_start, t.char_end) for t in tables},
        )

    return tools
