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

The examples are written for this module (generic arithmetic, dates, documents
and a made-up ``sales`` table), not taken from any evaluation set.
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
from rag.pipeline.answer import constrainable
from rag.pipeline.request import Query
from rag.store import Store, StoredChunk
from rag.store.tables import StoredTable
from rag.tools import ToolError, ToolRegistry, ToolResult, default_registry

NONE = "none"
ARGUMENTS_SYSTEM = "Write the arguments of the tool call as JSON."
ARGUMENT_TOKENS = 160  # the longest argument object (an SQL query of 500 characters is rarely reached)
# Worked examples per tool: (question, arguments). Generic, written for these prompts.
# A small model leans on the last example it read, so each tool's most common form comes last
# in its list, and the choice prompt takes the tools' examples in turn (see ToolCalls.__call__).
EXAMPLES: dict[str, list[tuple[str, dict]]] = {
    "calculator": [
        ("How much is 3 times 4.5?", {"expression": "3 * 4.5"}),
        ("What is 2 to the power of 8 minus 6?", {"expression": "2 ** 8 - 6"}),
        ("What is 12% of 1,500?", {"expression": "12% of 1,500"}),
    ],
    "sql": [
        ("How many rows of sales have region West?", {"query": "SELECT COUNT(*) FROM sales WHERE region = 'West'"}),
        ("What is the average price in the sales table?", {"query": "SELECT AVG(price) FROM sales"}),
        ("What is the total of the price column in sales.csv?", {"query": "SELECT SUM(price) FROM sales"}),
    ],
    "today": [("What is the date today?", {})],
    "date_add": [("What date is 30 days after 2024-01-15?", {"date": "2024-01-15", "days": 30})],
    "days_between": [
        ("How many days are there from 2024-01-01 to 2024-03-01?", {"start": "2024-01-01", "end": "2024-03-01"})
    ],
}
# Questions each tool answers, and questions for the documents (none), for choosing by similarity.
ROUTES: dict[str, list[str]] = {
    "calculator": [
        "What is 250 times 12?",
        "How much is 7.5% of 980?",
        "What is 1,024 divided by 16?",
        "Calculate 45 plus 17 minus 3.",
        "What is the square root of 81?",
        "What is 3 to the power of 4?",
    ],
    "sql": [
        "What is the total of the price column in sales.csv?",
        "How many rows of the orders table have status shipped?",
        "What is the average amount in the payments table?",
        "What is the largest value of the weight column?",
        "Sum the cost column of budget.csv.",
        "How many customers are listed in customers.csv?",
    ],
    "today": ["What is today's date?", "What day of the week is it today?", "What is the current date?"],
    "date_add": [
        "What date is 30 days after 2024-01-15?",
        "What is the date 2 weeks before 2023-06-01?",
        "Which day is 90 days from 2022-10-10?",
    ],
    "days_between": [
        "How many days are there from 2024-01-01 to 2024-03-01?",
        "How many days passed between 2020-05-04 and 2021-02-11?",
        "Count the days from 2019-12-25 to 2020-01-07.",
    ],
    # Questions for the documents are the broadest class: they mention years, numbers and
    # counts too ("in 1989", "how many people"), which must not pull them to a tool.
    NONE: [
        "Who founded the company?",
        "Why did the project fail?",
        "What does the report say about risks?",
        "Where was the author born?",
        "Summarise the main findings of the study.",
        "Which method does the paper propose?",
        "When was the building completed?",
        "What are the side effects of the drug?",
        "Who won the election in 2016?",
        "What happened in 1989?",
        "How many people live in the city?",
        "In which year did the war end?",
        "How old was she when she died?",
        "What was the revenue reported for 2021?",
        "Which team won the final?",
        "How long is the river?",
    ],
}


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


NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL")


def examples_for(tool, question: str) -> list[tuple[str, dict]]:
    """Worked examples for writing ``tool``'s arguments.

    SQL examples are written over the collection's own table (the one the question
    names, else the first) and a numeric column of it (the one the question names,
    else the first): a small model copies the table and column names of its
    examples, so examples over a made-up table lead it to query a table that does
    not exist.
    """
    examples = EXAMPLES.get(tool.name, [])
    tables = getattr(tool, "columns", None)
    if tool.name != "sql" or not tables:
        return examples
    words = set(re.findall(r"\w+", question.lower()))
    table = next((t for t in tables if t.lower() in words), next(iter(tables)))
    numeric = [c for c, kind in tables[table] if kind.split("(")[0] in NUMERIC]
    if not numeric:
        return examples[:1] + [
            (f"How many rows does the {table} table have?", {"query": f"SELECT COUNT(*) FROM {table}"})
        ]
    column = next((c for c in numeric if c.lower() in words), numeric[0])
    return examples[:1] + [
        (f"How many rows does the {table} table have?", {"query": f"SELECT COUNT(*) FROM {table}"}),
        (f"What is the average {column} in {table}?", {"query": f"SELECT AVG({column}) FROM {table}"}),
        (f"What is the total of the {column} column in {table}?", {"query": f"SELECT SUM({column}) FROM {table}"}),
    ]


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
