"""The SQL tool's worker side: one SELECT over Parquet tables in a locked-down, limited DuckDB.

:class:`rag.tools.sql.SqlTool` calls :func:`run` in a worker process
(:mod:`rag.tools.worker`), which loads this file by path: it imports DuckDB and
pyarrow, nothing of this repository. Only a worker loads it: loading sets the
process's Arrow memory pool and runs a first query (see the end of the file).

Every call gets a fresh in-memory DuckDB database that can reach nothing but
the tables: the files are read here with pyarrow (kept while unchanged) and
registered as Arrow tables, so DuckDB itself never opens a file. Its home
directory is a placeholder, so no setting and no message shows the server
user's home or extension folder; extensions are neither installed nor loaded.
It gets ``memory_limit`` and one thread, and no temporary directory to spill
to; then file access and Python replacement scans (which would find any Arrow
table in the caller's variables) are switched off and the configuration is locked.

DuckDB's limits are not the last word: its interrupt is checked between
batches of rows and its memory limit covers its buffers, not what a scalar
function allocates for one value. The worker process's deadline and address
space limit are (see :mod:`rag.tools.worker`); the interrupt here stops the
common case, a long scan, without losing the warm worker.

The result is read as Arrow batches first: rows past ``row_limit`` are not
converted, and rows that take more than ``max_bytes`` (a 100 MB string or list
in one cell) are refused before they become Python objects.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

_SETTINGS = {
    "home_directory": "/nonexistent",  # not the server user's: messages name it in extension paths
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_persistent_secrets": False,
    "python_enable_replacements": False,
    "max_temp_directory_size": "0B",
    "arrow_lossless_conversion": True,  # HUGEINT, UUID, BIT ... come back from Arrow as the same types
    "async_threads": 1,  # I/O threads (8 by default, 4 MB of address space each); nothing here reads files
}
_LOCKDOWN = (
    "SET temp_directory=''",  # before external access is off, which forbids changing it
    "SET enable_external_access=false",
    "SET lock_configuration=true",  # last: after it no SET (and no query) can undo the others
)
_INTERRUPT_EVERY_S = 0.05  # an interrupt that lands between two DuckDB calls is lost: repeat it
_CACHE_BYTES = 256 * 2**20  # of tables kept between calls (a table of the platform's million cells: tens of MB)
_cache: dict[str, tuple[tuple[int, int], pa.Table]] = {}  # path -> ((mtime_ns, size), table), least recent first


def run(
    tables: dict[str, str], query: str, row_limit: int, timeout_s: float, memory_mb: int, max_bytes: int
) -> tuple[Any, ...]:
    """Runs ``query`` (one SELECT, checked by the caller) over ``tables`` (name -> Parquet path).

    Returns:
        ``("ok", columns, rows, truncated)`` with at most ``row_limit`` rows as DuckDB's Python
        values; or ``("error", kind, message)``, kind one of ``table`` (a file cannot be read;
        the message is the table's name), ``timeout``, ``memory``, ``size`` (the message is the
        size of the first rows in bytes) and ``sql`` (DuckDB's message).
    """
    try:
        arrow = {name: _table(name, path) for name, path in tables.items()}
    except _Unreadable as exc:
        return "error", "table", exc.name
    return _execute(arrow, query, row_limit, timeout_s, memory_mb, max_bytes)


def _execute(
    arrow: dict[str, pa.Table], query: str, row_limit: int, timeout_s: float, memory_mb: int, max_bytes: int
) -> tuple[Any, ...]:
    con, watchdog = None, None
    done = threading.Event()
    try:
        con = duckdb.connect(config={**_SETTINGS, "memory_limit": f"{memory_mb}MiB", "threads": 1})
        for name, table in arrow.items():
            con.register(name, table)
        for setting in _LOCKDOWN:
            con.execute(setting)
        watchdog = _start_watchdog(con, timeout_s, done)
        return _fetch(con, query, row_limit, max_bytes)
    except duckdb.InterruptException:
        return "error", "timeout", ""
    except (duckdb.OutOfMemoryException, MemoryError, pa.ArrowMemoryError) as exc:
        return "error", "memory", str(exc)
    except (duckdb.Error, pa.ArrowException) as exc:
        return "error", "sql", str(exc)
    finally:
        done.set()
        if watchdog is not None:
            watchdog.join()  # it may be interrupting the connection: let it stop before the connection closes
        if con is not None:
            con.close()


def _start_watchdog(con: duckdb.DuckDBPyConnection, timeout_s: float, done: threading.Event) -> threading.Thread:
    watchdog = threading.Thread(target=_interrupt_after, args=(con, timeout_s, done), daemon=True)
    try:
        watchdog.start()
    except RuntimeError:  # its stack did not fit in the address-space limit
        raise MemoryError("no memory left to start a thread") from None
    return watchdog


def _fetch(con: duckdb.DuckDBPyConnection, query: str, row_limit: int, max_bytes: int) -> tuple[Any, ...]:
    try:
        relation = con.sql(query)  # binds; runs nothing yet
    except duckdb.Error as exc:
        # The same query through execute fails in the same binder, before it runs, and its message
        # keeps the line and a caret under the mistake, which the relation's message drops.
        try:
            con.execute(query)
        except duckdb.Error as located:
            raise located from None
        raise exc from None
    # (execute's result would give Arrow only after copying every row; the relation's reader streams)
    reader = relation.to_arrow_reader(row_limit + 1)
    batches, rows, size = [], 0, 0
    try:
        for batch in reader:
            batches.append(batch)
            rows, size = rows + batch.num_rows, size + batch.nbytes
            if rows > row_limit or size > max_bytes:
                break
    finally:
        reader.close()
    if size > max_bytes:
        return "error", "size", str(size)
    first = pa.Table.from_batches(batches, schema=reader.schema).slice(0, row_limit)
    values = con.from_arrow(first).fetchall()  # DuckDB's own Python values (Decimal, date, UUID, dict ...)
    return "ok", reader.schema.names, values, rows > row_limit


def _interrupt_after(con: duckdb.DuckDBPyConnection, timeout_s: float, done: threading.Event) -> None:
    if done.wait(timeout_s):
        return
    while not done.is_set():
        con.interrupt()
        done.wait(_INTERRUPT_EVERY_S)


class _Unreadable(Exception):
    def __init__(self, name: str) -> None:
        self.name = name


def _table(name: str, path: str) -> pa.Table:
    """The file's data, read again only when it changed (the error's text would name a server path: dropped)."""
    try:
        with open(path, "rb") as f:
            stat = os.fstat(f.fileno())
            key = (stat.st_mtime_ns, stat.st_size)
            cached = _cache.pop(path, None)
            table = cached[1] if cached is not None and cached[0] == key else pq.read_table(f)
    except (OSError, pa.ArrowException):
        raise _Unreadable(name) from None
    _cache[path] = (key, table)
    while len(_cache) > 1 and sum(t.nbytes for _, t in _cache.values()) > _CACHE_BYTES:
        del _cache[next(iter(_cache))]
    return table


# One-time reservations happen here, at load, not under a call's address-space limit: pyarrow's default
# allocator (mimalloc) reserves 1.3 GB of address space on first use, so this process uses the system's;
# DuckDB's allocator reserves 550 MB with the first database; a thread's stack and malloc arena 72 MB.
pa.set_memory_pool(pa.system_memory_pool())
_execute({"warm_up": pa.table({"x": [1]})}, "SELECT * FROM warm_up", 1, 60.0, 64, 2**20)
