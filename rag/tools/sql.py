"""Read-only SQL over the platform's tables (uploaded CSV files, tables found in documents).

Each table is a Parquet file that another part of the platform wrote. Every
call gets a fresh in-memory DuckDB connection that can reach nothing but those
tables: the files are read here with pyarrow and registered as Arrow tables, so
DuckDB itself never opens a file; then file access, Python replacement scans
(which would find any Arrow table or DataFrame in the caller's variables) and
spilling to disk are switched off and the configuration is locked. Only one
SELECT statement is accepted, results stop after ``row_limit`` rows, and a
timer interrupts a query that runs past ``timeout_s``.
"""

from __future__ import annotations

import datetime
import decimal
import math
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from indexes.errors import ConfigError
from rag.tools.base import Tool, ToolError, ToolResult, format_number, object_schema

MAX_QUERY_LENGTH = 500  # characters; also the schema's maxLength, so decoding ends
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LOCKDOWN = (
    "SET python_enable_replacements=false",
    "SET temp_directory=''",
    "SET enable_external_access=false",
    "SET lock_configuration=true",  # last: after it no SET (and no query) can undo the others
)
_CELL_WIDTH = 60  # characters of one cell in the text table


def _json_safe(value: Any) -> Any:
    """A DuckDB result value as JSON: dates as ISO strings, decimals as floats, blobs as hex."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    return str(value)  # timedelta, UUID, ...


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    text = format_number(value) if isinstance(value, float) else str(value)
    text = " ".join(text.split()).replace("|", "/")  # one line per row, and no false column breaks
    return text if len(text) <= _CELL_WIDTH else text[: _CELL_WIDTH - 1] + "…"


def _identifier(name: str) -> str:
    return name if _IDENTIFIER.fullmatch(name) else '"' + name.replace('"', '""') + '"'


class SqlTool(Tool):
    """Runs one read-only SELECT over named Parquet tables.

    Args:
        tables: Table name (a plain SQL identifier) -> Parquet file.
        row_limit: Most rows returned; a result with more is cut and marked truncated.
        timeout_s: Seconds a query may run before it is interrupted.

    Raises:
        ConfigError: A table name is not a plain identifier, a file cannot be read, or a limit is not positive.
    """

    name = "sql"
    parameters = object_schema({"query": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_LENGTH}})

    def __init__(self, tables: Mapping[str, Path], row_limit: int = 50, timeout_s: float = 5.0) -> None:
        if row_limit < 1 or timeout_s <= 0:
            raise ConfigError(f"row_limit and timeout_s must be positive, got {row_limit} and {timeout_s}")
        for name in tables:
            if not _IDENTIFIER.fullmatch(name):
                raise ConfigError(f"table name {name!r} is not a plain SQL identifier; use letters, digits and _")
        self.row_limit = row_limit
        self.timeout_s = timeout_s
        self._paths = {name: Path(path) for name, path in tables.items()}
        self._cache: dict[str, tuple[tuple[int, int], pa.Table]] = {}  # name -> ((mtime_ns, size), table)
        self._columns = {name: self._schema(name) for name in self._paths}  # name -> [(column, DuckDB type)]
        self.description = (
            f"Runs one read-only SQL SELECT (DuckDB dialect) over the tables and returns at most {row_limit} rows; "
            f"use it for totals, counts, averages and lookups in tabular data. Tables: {self.describe()}"
        )

    @property
    def columns(self) -> dict[str, list[tuple[str, str]]]:
        """Each table's columns and DuckDB types, e.g. ``{"expenses": [("amount", "DOUBLE"), ...]}``."""
        return {name: list(columns) for name, columns in self._columns.items()}

    def describe(self) -> str:
        """The tables with their columns and DuckDB types, e.g. ``expenses(date DATE, amount DOUBLE)``."""
        if not self._columns:
            return "none"
        return "; ".join(
            f"{name}({', '.join(f'{_identifier(c)} {t}' for c, t in columns)})"
            for name, columns in self._columns.items()
        )

    def _schema(self, name: str) -> list[tuple[str, str]]:
        try:
            schema = pq.read_schema(self._paths[name])
        except (OSError, pa.ArrowException) as exc:
            raise ConfigError(f"table {name!r}: cannot read Parquet file {self._paths[name]} ({exc})") from exc
        con = duckdb.connect()
        try:
            con.register(name, schema.empty_table())
            return [(row[0], row[1]) for row in con.execute(f'DESCRIBE "{name}"').fetchall()]
        finally:
            con.close()

    def _arrow(self, name: str) -> pa.Table:
        """The table's data, read again only when its file changed."""
        path = self._paths[name]
        try:
            stat = path.stat()
            key = (stat.st_mtime_ns, stat.st_size)
            if name not in self._cache or self._cache[name][0] != key:
                self._cache[name] = (key, pq.read_table(path))
        except (OSError, pa.ArrowException) as exc:
            raise ToolError(f"table {name} cannot be read ({exc}); upload its file again") from None
        return self._cache[name][1]

    def _source(self, query: str) -> str | None:
        used = [n for n in self._paths if re.search(rf"\b{n}\b", query, flags=re.IGNORECASE)]
        if not used:
            return None
        label = "table" if len(used) == 1 else "tables"
        return f"{label} " + ", ".join(f"{n} ({self._paths[n].name})" for n in used)

    def __call__(self, arguments: dict[str, Any]) -> ToolResult:
        if not self._paths:
            raise ToolError("no tables: upload a CSV file or a document with a table")
        query = arguments["query"].strip()
        con = duckdb.connect()  # in memory: the platform's own catalog file is out of reach
        try:
            self._check_statement(con, query)
            for name in self._paths:
                con.register(name, self._arrow(name))
            for setting in _LOCKDOWN:
                con.execute(setting)
            columns, rows, truncated = self._run(con, query)
        finally:
            con.close()
        value = {"columns": columns, "rows": [[_json_safe(v) for v in row] for row in rows], "truncated": truncated}
        return ToolResult(text=self._text(columns, rows, truncated), value=value, source=self._source(query))

    def _check_statement(self, con: duckdb.DuckDBPyConnection, query: str) -> None:
        try:
            statements = con.extract_statements(query)
        except duckdb.Error as exc:
            raise self._error(exc) from None
        if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
            found = ", ".join(s.type.name for s in statements) or "no statement"
            raise ToolError(f"only one read-only SELECT statement is allowed; got {found}")

    def _run(self, con: duckdb.DuckDBPyConnection, query: str) -> tuple[list[str], list[tuple], bool]:
        timer = threading.Timer(self.timeout_s, con.interrupt)
        timer.start()
        try:
            cursor = con.execute(query)
            columns = [d[0] for d in cursor.description]
            rows = cursor.fetchmany(self.row_limit + 1)
        except duckdb.InterruptException:
            raise ToolError(
                f"the query ran longer than {self.timeout_s:g} s; aggregate, filter or add LIMIT so it does less work"
            ) from None
        except duckdb.Error as exc:
            raise self._error(exc) from None
        finally:
            timer.cancel()
        return columns, rows[: self.row_limit], len(rows) > self.row_limit

    def _error(self, exc: duckdb.Error) -> ToolError:
        message = str(exc).strip()
        return ToolError(f"{message}\nOnly these tables can be queried: {self.describe()}")

    def _text(self, columns: list[str], rows: list[tuple], truncated: bool) -> str:
        if not rows:
            return f"no rows (columns: {', '.join(columns)})"
        if len(columns) == 1 and len(rows) == 1:
            return f"{columns[0]} = {_cell(rows[0][0])}"
        lines = [" | ".join(columns)] + [" | ".join(_cell(v) for v in row) for row in rows]
        if truncated:
            lines.append(f"(only the first {self.row_limit} rows; aggregate or filter to see the rest)")
        return "\n".join(lines)
