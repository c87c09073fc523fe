"""Read-only SQL over the platform's tables (uploaded CSV files, tables found in documents).

Each table is a Parquet file that another part of the platform wrote. Only one
SELECT statement is accepted (DuckDB's parser says which kind a statement is).
It runs in a worker process (:mod:`rag.tools.worker`) in a DuckDB database
that reaches nothing but the tables (:mod:`rag.tools.sql_engine` has the
lockdown), with three limits, each refused with a message saying how to do less:

* time: DuckDB is interrupted after ``timeout_s``, and the worker killed a
  second later if DuckDB did not stop (it checks between batches of rows only);
* memory: DuckDB's ``memory_limit`` is ``memory_mb``, 256 MB by default, and
  nothing spills to disk. The largest table the platform stores has a million
  cells (``ingest.parse.csv.MAX_CELLS``): grouping, sorting, joining, windows
  and quantiles over a million rows of three columns ran in 128 MB, so 256 MB
  leaves room. The worker's address space may grow four times that (the tables,
  what DuckDB allocates outside its buffers), and no more;
* result: at most ``row_limit`` rows, taking at most 1 MB before they become
  Python values, so that one 100 MB cell cannot flood the reply.

DuckDB runs on one thread: on these tables a second thread gained nothing
measurable, and the server's other requests need the cores.

Error messages are DuckDB's (the list of real columns in a Binder error is
what a retry needs), with the advice to install extensions cut and absolute
paths replaced by ``<path>``, so no server path reaches the model or the user.
"""

from __future__ import annotations

import datetime
import decimal
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from core.errors import ConfigError
from rag.tools.base import Tool, ToolError, ToolResult, format_number, object_schema
from rag.tools.worker import ToolMemoryError, ToolTimeoutError, WorkerPool

MAX_QUERY_LENGTH = 500  # characters; also the schema's maxLength, so decoding ends
MEMORY_MB = 256
MIN_MEMORY_MB = 64
MAX_RESULT_BYTES = 2**20
_ADDRESS_SPACE_PER_MEMORY = 4  # the worker's address space may grow this many times memory_mb
_KILL_AFTER_S = 1.0  # past the deadline DuckDB gets this long to stop before its worker is killed
_ENGINE = Path(__file__).with_name("sql_engine.py")  # not imported here: it sets up the worker process
_WORKERS = WorkerPool(_ENGINE, "run", name="the sql tool", workers=2, memory_mb=MEMORY_MB * _ADDRESS_SPACE_PER_MEMORY)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CELL_WIDTH = 60  # characters of one cell in the text table
# /etc/passwd, ~/x, "/nonexistent/.duckdb/extensions/..."; not 1/2, a/b or the // of a URL
_PATH = re.compile(r"(?<![\w.:/~])(?:~|/(?!\d)[\w.@+-]+)(?:/[\w.@*+-]*)+")
_EXTENSION_ADVICE = re.compile(r"Please try installing.*?(?=\n\s*LINE \d|\Z)", re.DOTALL)
_NO_EXTENSIONS = "Extensions cannot be installed or loaded here; use DuckDB's built-in functions."


def scrub(message: str) -> str:
    """A DuckDB message without server paths and without advice to install extensions."""
    message = _EXTENSION_ADVICE.sub(_NO_EXTENSIONS, message)
    home = os.path.expanduser("~")
    if len(home) > 1:
        message = message.replace(home, "<path>")
    return _PATH.sub("<path>", message).strip()


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
        memory_mb: DuckDB's memory limit for one query, at least ``MIN_MEMORY_MB``.
        workers: The worker processes; None: the process-wide SQL pool.

    Raises:
        ConfigError: A table name is not a plain identifier, a file cannot be read, or a limit is not positive.
    """

    name = "sql"
    parameters = object_schema({"query": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_LENGTH}})

    def __init__(
        self,
        tables: Mapping[str, Path],
        row_limit: int = 50,
        timeout_s: float = 5.0,
        memory_mb: int = MEMORY_MB,
        workers: WorkerPool | None = None,
    ) -> None:
        if row_limit < 1 or timeout_s <= 0:
            raise ConfigError(f"row_limit and timeout_s must be positive, got {row_limit} and {timeout_s}")
        if memory_mb < MIN_MEMORY_MB:
            raise ConfigError(
                f"memory_mb must be at least {MIN_MEMORY_MB} (DuckDB's own threads need it), got {memory_mb}"
            )
        for name in tables:
            if not _IDENTIFIER.fullmatch(name):
                raise ConfigError(f"table name {name!r} is not a plain SQL identifier; use letters, digits and _")
        self.row_limit, self.timeout_s, self.memory_mb = row_limit, timeout_s, memory_mb
        self.workers = workers or _WORKERS
        self._paths = {name: Path(path) for name, path in tables.items()}
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
        self._check_statement(query)
        tables = {name: str(path) for name, path in self._paths.items()}
        limits = (self.row_limit, self.timeout_s, self.memory_mb, MAX_RESULT_BYTES)
        try:
            reply = self.workers.call(
                tables,
                query,
                *limits,
                timeout_s=self.timeout_s + _KILL_AFTER_S,
                memory_mb=self.memory_mb * _ADDRESS_SPACE_PER_MEMORY,
            )
        except ToolTimeoutError:
            raise ToolTimeoutError(self._refusal("timeout", "")) from None
        except ToolMemoryError:
            raise ToolMemoryError(self._refusal("memory", "")) from None
        if reply[0] == "error":
            raise ToolError(self._refusal(reply[1], reply[2]))
        _, columns, rows, truncated = reply
        value = {"columns": columns, "rows": [[_json_safe(v) for v in row] for row in rows], "truncated": truncated}
        return ToolResult(text=self._text(columns, rows, truncated), value=value, source=self._source(query))

    def _check_statement(self, query: str) -> None:
        con = duckdb.connect()
        try:
            statements = con.extract_statements(query)
        except duckdb.Error as exc:
            raise ToolError(self._refusal("sql", str(exc))) from None
        finally:
            con.close()
        if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
            found = ", ".join(s.type.name for s in statements) or "no statement"
            raise ToolError(f"only one read-only SELECT statement is allowed; got {found}")

    def _refusal(self, kind: str, detail: str) -> str:
        """What a failed query is told, by the worker's kind of error (see ``sql_engine.run``)."""
        less = "aggregate, filter or add LIMIT so it does less work"
        if kind == "timeout":
            return f"the query ran longer than {self.timeout_s:g} s; {less}"
        if kind == "memory":
            return (
                f"the query needs more than {self.memory_mb} MB of memory; {less}, and do not build huge lists "
                "or strings (list(), range(), repeat(), string_agg())"
            )
        if kind == "size":
            return (
                f"the first rows of the result take {int(detail) / 2**20:.1f} MB; at most "
                f"{MAX_RESULT_BYTES / 2**20:g} MB can be returned: select fewer columns, or shorten long values "
                "(left(text, 200), list_slice(items, 1, 10))"
            )
        if kind == "table":
            return f"table {detail} cannot be read; upload its file again"
        return f"{scrub(detail)}\nOnly these tables can be queried: {self.describe()}"

    def _text(self, columns: list[str], rows: list[tuple], truncated: bool) -> str:
        if not rows:
            return f"no rows (columns: {', '.join(columns)})"
        if len(columns) == 1 and len(rows) == 1:
            return f"{columns[0]} = {_cell(rows[0][0])}"
        lines = [" | ".join(columns)] + [" | ".join(_cell(v) for v in row) for row in rows]
        if truncated:
            lines.append(f"(only the first {self.row_limit} rows; aggregate or filter to see the rest)")
        return "\n".join(lines)
