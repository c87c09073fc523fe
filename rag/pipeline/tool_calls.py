"""Tool calls in the query path: the model picks a tool and writes its arguments under constraints.

Two steps, each of which can only produce a valid call:

1. the choice: the question is embedded (the platform's MiniLM) and compared
   with example questions of each allowed tool and of questions that need none
   (``ROUTES``); the tool of the most similar example wins, ``none`` included.
   The language model itself chose badly: asked to name the tool (whole names
   scored, with few-shot turns, with and without calibration against a
   content-free question), it picked the right tool for 25-33% of the questions
   of ``benchmarks/tool_calls.py``, mostly the tool of its last examples;
2. the arguments: the language model writes them under constrained decoding,
   so the output is JSON that conforms to the tool's schema
   (:class:`rag.model.json_machine.JsonMachine`), from worked examples.

The call then runs through the registry (which checks the arguments again). A
result becomes a numbered passage of the answer's prompt, so the answer cites it;
a failed call is reported with its error and adds no passage. A SQL result cites
the document its table came from (the table's span in that document).

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

from indexes.errors import InvalidInputError
from ingest.embed import Embedder
from rag.generate.base import ChatMessage, GenerationConfig, Generator
from rag.model.json_machine import JsonMachine
from rag.pipeline.request import Query
from rag.pipeline.tool_examples import NONE, ROUTES, examples_for
from rag.store import Store, StoredChunk
from rag.store.tables import StoredTable
from rag.tools import Tool, ToolError, ToolRegistry, ToolResult, default_registry

ARGUMENTS_SYSTEM = "Write the arguments of the tool call as JSON."
ARGUMENT_TOKENS = 160  # the longest argument object (an SQL query of 500 characters is rarely reached)


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
    """Let the model call at most one tool for a question.

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

    def __call__(self, query: Query, selection: ToolSelection) -> list[ToolCall]:
        available, tools = selection.available, selection.tools
        registry = available.registry
        if not tools:
            return []
        generator = self.generator()
        if not generator.supports_constraints:
            raise InvalidInputError(
                f"tool calls need constrained decoding, which the {generator.name} generator does not offer; "
                "use the torch generator or tools: false"
            )
        choice = self.choose(query.text, [t.name for t in tools])
        if choice == NONE:
            return []
        tool = registry.get(choice)
        turns = [ChatMessage("system", f"{ARGUMENTS_SYSTEM}\nTool {tool.name}: {tool.description}")]
        for question, arguments in examples_for(tool, query.text):
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
        return [ToolCall(choice, arguments, result, source=source_of(available, choice, arguments))]


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
