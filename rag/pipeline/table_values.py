"""What a question names in a collection's tables: a value of one of their text columns ("travel").

A question that names a value of a table ("How much was spent on travel in total?",
where ``category`` holds ``travel``) is about that table, though its words are far from
the example questions that route to SQL (``What is the total of the price column in
sales.csv?``): the router picked no tool for it. Knowing the value also lets the SQL
examples show the filter over the real table and column (``WHERE category = 'travel'``),
which the model copies; over the made-up ``sales`` table it invented a column
(``SUM(travel_amount)``).

Only category-like columns count: those with at most ``MAX_VALUES`` distinct values,
each of at most ``MAX_VALUE_CHARS`` characters and ``MIN_VALUE_CHARS`` or more. A
table's values are read once per version of its Parquet file.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rag.store.tables import StoredTable

MAX_VALUES = 200  # distinct values of a column; more (names, descriptions, ids) is not a category
MAX_VALUE_CHARS = 60
MIN_VALUE_CHARS = 3  # "a", "NA" and "x" would match too many questions


@dataclass(frozen=True)
class Mention:
    """A value of a table's text column that a question names.

    Attributes:
        table: the table's name (as SQL reads it).
        column: the text column that holds ``value``.
        value: the value, as stored.
    """

    table: str
    column: str
    value: str


class TableValues:
    """The category-like values of tables' text columns, read once per version of each file."""

    def __init__(self) -> None:
        self._cache: dict[Path, tuple[tuple[int, int], dict[str, tuple[str, ...]]]] = {}
        self._lock = threading.Lock()

    def values(self, table: StoredTable) -> dict[str, tuple[str, ...]]:
        """Text column -> its distinct values (category-like columns only); empty when the file cannot be read."""
        try:
            stat = table.path.stat()
        except OSError:
            return {}
        key = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._cache.get(table.path)
        if cached is not None and cached[0] == key:
            return cached[1]
        values = _read_values(table.path)
        with self._lock:
            self._cache[table.path] = (key, values)
        return values

    def mention(self, question: str, tables: dict[str, StoredTable]) -> Mention | None:
        """The first value of a table that ``question`` names as whole words (case-insensitive), if any."""
        text = question.lower()
        for name, table in tables.items():
            for column, values in self.values(table).items():
                for value in values:
                    if re.search(rf"(?<!\w){re.escape(value.lower())}(?!\w)", text):
                        return Mention(name, column, value)
        return None


def _read_values(path: Path) -> dict[str, tuple[str, ...]]:
    try:
        schema = pq.read_schema(path)
        columns = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
        table = pq.read_table(path, columns=columns) if columns else None
    except (OSError, pa.ArrowException):  # the SQL tool reports an unreadable table when it is queried
        return {}
    out = {}
    for column in columns:
        distinct = pc.unique(table.column(column).drop_null())
        if len(distinct) > MAX_VALUES:
            continue
        values = [str(v) for v in distinct.to_pylist()]
        values = [v for v in values if MIN_VALUE_CHARS <= len(v.strip()) <= MAX_VALUE_CHARS]
        if values:
            out[column] = tuple(values)
    return out
