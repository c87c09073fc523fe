"""Worked examples for tool calls: example questions per tool for choosing one, and arguments for writing them.

Everything here is written for these prompts (generic arithmetic, dates, questions
about documents, a made-up ``sales`` table), not taken from any evaluation set;
``benchmarks/tool_calls.py`` asks other questions.
"""

from __future__ import annotations

import re

from rag.pipeline.table_values import Mention

NONE = "none"  # the label of questions that need no tool

# Worked examples per tool for writing arguments: (question, arguments). Generic, written for these
# prompts. A small model leans on the last example it read, so each tool's most common form comes last.
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


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL")


def examples_for(tool, question: str, mention: Mention | None = None) -> list[tuple[str, dict]]:
    """Worked examples for writing ``tool``'s arguments.

    SQL examples are written over the collection's own table (the one the question
    names, else the first) and a numeric column of it (the one the question names,
    else the first): a small model copies the table and column names of its
    examples, so examples over a made-up table lead it to query a table that does
    not exist. When the question names a value of a table's text column
    (``mention``), the last example filters that table on that value: the model
    copies the filter. Filtered by another value of the column, the example made it
    copy that value ("How much was spent on travel in total?" was written as
    ``WHERE category = 'equipment'``), and without a filtering example over the
    real table it invented a column (``SUM(travel_amount)``).
    """
    examples = EXAMPLES.get(tool.name, [])
    tables = getattr(tool, "columns", None)
    if tool.name != "sql" or not tables:
        return examples
    words = set(re.findall(r"\w+", question.lower()))
    if mention is not None and mention.table in tables:
        table = mention.table
    else:
        table = next((t for t in tables if t.lower() in words), next(iter(tables)))
    numeric = [c for c, kind in tables[table] if kind.split("(")[0] in NUMERIC]
    if not numeric:
        return examples[:1] + [
            (f"How many rows does the {table} table have?", {"query": f"SELECT COUNT(*) FROM {table}"})
        ]
    column = next((c for c in numeric if c.lower() in words), numeric[0])
    quoted = sql_name(column)
    own = [
        (f"How many rows does the {table} table have?", {"query": f"SELECT COUNT(*) FROM {table}"}),
        (f"What is the average {column} in {table}?", {"query": f"SELECT AVG({quoted}) FROM {table}"}),
        (f"What is the total of the {column} column in {table}?", {"query": f"SELECT SUM({quoted}) FROM {table}"}),
    ]
    if mention is None or mention.table != table:
        return examples[:1] + own
    literal = "'" + mention.value.replace("'", "''") + "'"
    where = (
        f"What is the total {column} where {mention.column} is {mention.value}?",
        {"query": f"SELECT SUM({quoted}) FROM {table} WHERE {sql_name(mention.column)} = {literal}"},
    )
    return [*own, where]


def sql_name(name: str) -> str:
    """``name`` as an SQL identifier: as it is when plain, else double-quoted."""
    return name if _IDENTIFIER.fullmatch(name) else '"' + name.replace('"', '""') + '"'
