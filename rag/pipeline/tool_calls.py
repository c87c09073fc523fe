"""Tool calls in the query path: the model picks a tool and writes its arguments under constraints.

Two steps, each of which can only produce a valid call:

1. the choice: the question is embedded (the platform's MiniLM) and compared
   with example questions of each allowed tool and of questions that need none
   (``ROUTES``); the tool of the most similar example wins, ``none`` included.
   The language model itself chose badly: asked to name the tool (whole names
   scored, with few-shot turns, with and without calibration against a
   content-free question), it picked the right tool for 25-33% of the questions
   of ``benchmarks/tool_calls.py``, mostly the tool of its last examples. A
   question that asks how much or how many (``QUANTITY``) and names a value of
   one of the collection's tables (:mod:`rag.pipeline.table_values`) goes to
   ``sql`` even when no example is close: "How much was spent on travel in
   total?" is about the table whose ``category`` holds ``travel``;
2. the arguments: the language model writes them under constrained decoding,
   so the output is JSON that conforms to the tool's schema
   (:class:`rag.model.json_machine.JsonMachine`), from worked examples.

The call then runs through the registry (which checks the arguments again). A
call that fails is tried once more, with its error in the prompt: an SQL error
names the tables and their columns (``Binder Error: Referenced column
"travel_amount" not found ... Candidate bindings: "amount_gbp"``), which the
first try got wrong. Both tries are reported. A result becomes a numbered passage
of the answer's prompt, so the answer cites it; a failed call adds no passage. A
SQL result cites the document its table came from (the table's span in that document).

The examples live in :mod:`rag.pipeline.tool_examples`; they are written for
these prompts, not taken from any evaluation set.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.errors import InvalidInputError
from ingest.embed import Embedder
from rag.generate.base import ChatMessage, GenerationConfig, Generator
from rag.model.json_machine import JsonMachine
from rag.pipeline.request import Query, question_head
from rag.pipeline.table_values import TableValues
from rag.pipeline.tool_examples import NONE, ROUTES, examples_for
from rag.store import Store, StoredChunk
from rag.store.tables import StoredTable
from rag.tools import Tool, ToolError, ToolRegistry, ToolResult, default_registry

ARGUMENTS_SYSTEM = "Write the arguments of the tool call as JSON."
ARGUMENT_TOKENS = 160  # the longest argument object (an SQL query of 500 characters is rarely reached)
# The second try's prompt is the first's with this line added to the instruction. Of 6 failed SQL queries
# forced on grant_expenses questions, the second try then ran for 4, each with the right value; shown
# instead as the model's own earlier turn, or in the question's turn, the failed query was copied unchanged
# (0 of 4 ran). Measured with SmolLM2-135M (issue 31).
RETRY = "These arguments failed: {arguments}\nError: {error}"
RETRY_ERROR_CHARS = 1000  # of the error shown to the model: an SQL error lists every table's columns
# Questions that ask for an amount or a count: with a table's value named, they are about the table.
QUANTITY = re.compile(
    r"\b(how (much|many)|total|sum|average|count|number of|highest|lowest|largest|smallest|maximum|minimum)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ToolCall:
    """One call the model made.

    Attributes:
        name: the tool.
        arguments: the arguments object the model wrote.
        result: what it returned (None when it failed).
        error: why it failed (None when it ran).
        source: the stored table a result was computed from (an SQL query), if any.
    """

    name: str
    arguments: dict[str, Any]
    result: ToolResult | None = None
    error: str | None = None
    source: StoredTable | None = None

    @property
    def ok(self) -> bool:
        return self.result is not None

    def chunk(self) -> StoredChunk:
        """The result as a passage: it cites the source document's span when there is one."""
        assert self.result is not None
        text = f"{self.name}({json.dumps(self.arguments, ensure_ascii=False)}) -> {self.result.text}"
        if self.source is None:
            return StoredChunk(-1, -1, f"{self.name} tool", None, 0, text, None, 0, 0, (), 1.0)
        s = self.source
        return StoredChunk(-1, s.document_id, s.filename, None, 0, text, None, s.char_start, s.char_end, (), 1.0)


@dataclass(frozen=True)
class CollectionTools:
    """The tools a collection's questions may call, and where its tables come from.

    Attributes:
        registry: the tools.
        tables: table name -> the stored table (its Parquet file, document and span).
    """

    registry: ToolRegistry
    tables: dict[str, StoredTable] = field(default_factory=dict)


@dataclass(frozen=True)
class ToolSelection:
    """The tools one request may call (``tools``), from those of its collection (``available``)."""

    available: CollectionTools
    tools: list[Tool]


class ToolCalls:
    """Let the model call at most one tool for a question (tried twice when the first try fails).

    Args:
        generator: returns the language model (must take constraints).
        tools: returns the tools of a query's collection.
    """

    def __init__(
        self,
        generator: Callable[[], Generator],
        tools: Callable[[Query], CollectionTools],
        embedder: Callable[[], Embedder],
    ) -> None:
        self.generator = generator
        self.tools = tools
        self.embedder = embedder
        self.values = TableValues()
        self._routes: tuple[list[str], np.ndarray] | None = None

    def choose(self, question: str, names: list[str]) -> str:
        """The allowed tool (or ``none``) whose example question is most similar to ``question``."""
        if self._routes is None:  # embedded once per process: the examples never change
            labels = [name for name, questions in ROUTES.items() for _ in questions]
            texts = [q for questions in ROUTES.values() for q in questions]
            self._routes = labels, self.embedder().embed_queries(texts)
        labels, vectors = self._routes
        similarity = vectors @ self.embedder().embed_query(question)
        allowed = [i for i, label in enumerate(labels) if label in names or label == NONE]
        return labels[max(allowed, key=lambda i: similarity[i])]

    def select(self, query: Query, spec: bool | tuple[str, ...]) -> ToolSelection:
        """The tools a request allows; raises (a 4xx) for unknown names, so callers check before any work.

        Listing a collection's tools reads its stored tables' schemas: a request does it once, here.
        """
        if not spec:
            return ToolSelection(CollectionTools(ToolRegistry([])), [])
        available = self.tools(query)
        return ToolSelection(available, available.registry.select(spec if spec is True else list(spec)))

    def __call__(
        self, query: Query, selection: ToolSelection, on_run: Callable[[str], None] | None = None
    ) -> list[ToolCall]:
        """The calls made for ``query``: none, one, or a failed one and its second try.

        ``on_run`` hears the chosen tool's name before its arguments are written (not when none is chosen).
        """
        available, tools = selection.available, selection.tools
        if not tools:
            return []
        generator = self.generator()
        if not (generator.supports_constraints or generator.supports_json_schema):
            raise InvalidInputError(
                f"tool calls need constrained decoding, which the {generator.name} generator does not offer; "
                "use the torch generator or tools: false"
            )
        names = [t.name for t in tools]
        text = question_head(query.text, generator.count_tokens)  # a pasted page: what a prompt can hold of it
        mention = self.values.mention(text, available.tables) if "sql" in names else None
        choice = self.choose(text, names)
        if choice == NONE and mention is not None and QUANTITY.search(text):
            choice = "sql"
        if choice == NONE:
            return []
        if on_run is not None:
            on_run(choice)
        tool = available.registry.get(choice)
        system = f"{ARGUMENTS_SYSTEM}\nTool {tool.name}: {tool.description}"
        turns = []
        for question, arguments in examples_for(tool, text, mention):
            turns += [ChatMessage("user", question), ChatMessage("assistant", json.dumps(arguments))]
        turns.append(ChatMessage("user", text))
        first = self._attempt(generator, [ChatMessage("system", system), *turns], available, choice)
        if first.ok or not retryable(first, available):
            return [first]
        error = first.error or ""
        if len(error) > RETRY_ERROR_CHARS:
            error = error[:RETRY_ERROR_CHARS] + "…"
        system += "\n" + RETRY.format(arguments=json.dumps(first.arguments), error=error)
        return [first, self._attempt(generator, [ChatMessage("system", system), *turns], available, choice)]

    def _attempt(
        self, generator: Generator, turns: list[ChatMessage], available: CollectionTools, name: str
    ) -> ToolCall:
        """Write the arguments of ``name`` under its schema's constraint, then run the call."""
        tool = available.registry.get(name)
        written = generator.generate(
            turns, GenerationConfig(max_tokens=ARGUMENT_TOKENS), constraint=JsonMachine(tool.parameters)
        ).text
        try:
            arguments = json.loads(written)
        except json.JSONDecodeError:  # the token budget ran out inside the value
            return ToolCall(name, {}, error=f"the model's arguments were cut off: {written!r}")
        try:
            result = available.registry.call(name, arguments)
        except ToolError as exc:
            return ToolCall(name, arguments, error=str(exc))
        return ToolCall(name, arguments, result, source=source_of(available, name, arguments))


def retryable(call: ToolCall, available: CollectionTools) -> bool:
    """Whether a second try with the error could succeed.

    Not when the arguments were cut off (the budget would run out again), nor for SQL over a
    collection without tables (the error says to upload one: no query can succeed).
    """
    if call.ok or not call.arguments:
        return False
    return call.name != "sql" or bool(available.tables)


def source_of(available: CollectionTools, name: str, arguments: dict) -> StoredTable | None:
    """The document span a result comes from: the first table an SQL query names."""
    if name == "sql":
        sql = str(arguments.get("query", ""))
        for table, stored in available.tables.items():
            if re.search(rf"\b{re.escape(table)}\b", sql, re.IGNORECASE):
                return stored
    return None


def collection_tools(store: Store) -> Callable[[Query], CollectionTools]:
    """The default tools of a query's collection: calculator, dates, and SQL over its stored tables."""

    def tools(query: Query) -> CollectionTools:
        tables = store.tables(query.collection)
        return CollectionTools(
            default_registry({t.name: t.path for t in tables}),
            {t.name: t for t in tables},
        )

    return tools
