"""The sql tool answers SELECTs over Parquet tables and cannot reach anything else (files, settings, Python)."""

from __future__ import annotations

import datetime
import decimal
import json
import os
import resource
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.errors import ConfigError
from rag.tools import ToolError
from rag.tools.sql import SqlTool, scrub


@pytest.fixture
def tables(tmp_path):
    expenses = pa.table(
        {
            "date": [datetime.date(2024, 1, d) for d in range(1, 11)],
            "category": ["food", "rent", "food", "travel", "food", "rent", "travel", "food", "rent", "food"],
            "amount": [12.5, 1000.0, 22.0, 310.0, 8.25, 1000.0, 95.0, 14.0, 1000.0, 30.0],
        }
    )
    budget = pa.table(
        {
            "category": ["food", "rent"],
            "cap": pa.array([decimal.Decimal("150.00"), decimal.Decimal("3000.00")], pa.decimal128(10, 2)),
        }
    )
    pq.write_table(expenses, tmp_path / "expenses.parquet")
    pq.write_table(budget, tmp_path / "budget.parquet")
    return {"expenses": tmp_path / "expenses.parquet", "budget": tmp_path / "budget.parquet"}


@pytest.fixture
def sql(tables):
    return SqlTool(tables, row_limit=5, timeout_s=5.0)


def run(tool, query):
    return tool({"query": query})


def test_sum(sql):
    result = run(sql, "SELECT SUM(amount) AS total FROM expenses")
    assert result.value == {"columns": ["total"], "rows": [[3491.75]], "truncated": False}
    assert result.text == "total = 3491.75"
    assert result.source == "table expenses (expenses.parquet)"


def test_group_by(sql):
    result = run(sql, "SELECT category, COUNT(*) AS n, SUM(amount) AS total FROM expenses GROUP BY 1 ORDER BY 1")
    assert result.value["rows"] == [["food", 5, 86.75], ["rent", 3, 3000.0], ["travel", 2, 405.0]]
    assert result.text.splitlines() == [
        "category | n | total",
        "food | 5 | 86.75",
        "rent | 3 | 3000",
        "travel | 2 | 405",
    ]


def test_join_values_are_json_safe(sql):
    query = "SELECT e.date, b.cap FROM expenses e JOIN budget b USING (category) ORDER BY e.date LIMIT 2"
    result = run(sql, query)
    assert result.value["rows"] == [["2024-01-01", 150.0], ["2024-01-02", 3000.0]]
    json.dumps(result.value, allow_nan=False)
    assert result.source == "tables expenses (expenses.parquet), budget (budget.parquet)"


def test_with_select_is_a_select(sql):
    result = run(sql, "WITH f AS (SELECT * FROM expenses WHERE category = 'food') SELECT COUNT(*) FROM f")
    assert result.value["rows"] == [[5]]


def test_row_limit_truncates(sql):
    result = run(sql, "SELECT * FROM expenses ORDER BY date")
    assert result.value["truncated"] is True
    assert len(result.value["rows"]) == 5
    assert "only the first 5 rows" in result.text
    assert not run(sql, "SELECT * FROM expenses LIMIT 5").value["truncated"]


def test_describe(sql):
    assert (
        sql.describe()
        == "expenses(date DATE, category VARCHAR, amount DOUBLE); budget(category VARCHAR, cap DECIMAL(10,2))"
    )
    assert sql.describe() in sql.description


@pytest.mark.parametrize(
    "query",
    [
        "INSERT INTO expenses VALUES (DATE '2024-02-01', 'food', 1.0)",
        "CREATE TABLE t AS SELECT 1",
        "DROP TABLE expenses",
        "UPDATE expenses SET amount = 0",
        "DELETE FROM expenses",
        "COPY expenses TO '/tmp/leak.csv'",
        "ATTACH '/tmp/other.duckdb'",
        "PRAGMA table_info('expenses')",
        "SET enable_external_access = true",
        "INSTALL httpfs",
        "LOAD httpfs",
        "EXPLAIN SELECT 1",
        "SELECT 1; SELECT 2",
        "SELECT 1; DROP TABLE expenses",
        "WITH x AS (SELECT 1) INSERT INTO expenses SELECT * FROM x",
    ],
)
def test_only_one_select(sql, query):
    with pytest.raises(ToolError, match="only one read-only SELECT statement is allowed"):
        run(sql, query)


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM glob('/etc/*')",
        "SELECT * FROM '/etc/passwd'",
    ],
)
def test_files_are_out_of_reach(sql, query):
    with pytest.raises(ToolError):
        run(sql, query)


def test_parquet_path_is_out_of_reach(sql, tables):
    with pytest.raises(ToolError, match="disabled by configuration"):
        run(sql, f"SELECT * FROM read_parquet('{tables['expenses']}')")


def test_python_variables_are_out_of_reach(sql):
    secret = pa.table({"password": ["hunter2"]})  # DuckDB's replacement scan would find this local
    assert secret.num_rows == 1
    with pytest.raises(ToolError, match="secret"):
        run(sql, "SELECT * FROM secret")


def test_unknown_column_lists_the_tables(sql):
    with pytest.raises(ToolError) as info:
        run(sql, "SELECT price FROM expenses")
    message = str(info.value)
    assert "price" in message
    assert "expenses(date DATE, category VARCHAR, amount DOUBLE)" in message
    assert "budget(" in message


def test_syntax_error_lists_the_tables(sql):
    with pytest.raises(ToolError, match="expenses\\(date DATE"):
        run(sql, "SELEC amount FROM expenses")


def test_slow_query_is_interrupted(tables):
    tool = SqlTool(tables, timeout_s=0.5)
    start = time.monotonic()
    with pytest.raises(ToolError, match="ran longer than 0.5 s"):
        run(tool, "SELECT COUNT(*) FROM range(1000000) a, range(1000000) b")  # 10**12 pairs in little memory
    assert time.monotonic() - start < 10
    assert run(tool, "SELECT COUNT(*) FROM expenses").value["rows"] == [[10]]  # later calls still work


def test_no_tables():
    tool = SqlTool({})
    with pytest.raises(ToolError, match="no tables: upload a CSV file or a document with a table"):
        run(tool, "SELECT 1")


def test_changed_file_is_read_again(sql, tables):
    assert run(sql, "SELECT COUNT(*) FROM budget").value["rows"] == [[2]]
    pq.write_table(pa.table({"category": ["x"], "cap": [1.0]}), tables["budget"])
    assert run(sql, "SELECT COUNT(*) FROM budget").value["rows"] == [[1]]


def test_bad_configuration(tables, tmp_path):
    with pytest.raises(ConfigError, match="plain SQL identifier"):
        SqlTool({"my table": tables["expenses"]})
    with pytest.raises(ConfigError, match="cannot read Parquet file"):
        SqlTool({"missing": tmp_path / "missing.parquet"})
    with pytest.raises(ConfigError, match="positive"):
        SqlTool(tables, row_limit=0)
    with pytest.raises(ConfigError, match="memory_mb must be at least 64"):
        SqlTool(tables, memory_mb=16)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_peak_mb(tool) -> float:
    """The largest resident size the tool's idle workers reached (VmHWM), in MB (0: none is left)."""
    peaks = [Path(f"/proc/{pid}/status").read_text().split("VmHWM:")[1].split()[0] for pid in tool.workers.worker_pids]
    return max((int(kb) / 1024 for kb in peaks), default=0)


def test_memory_limit_stops_a_huge_list_fast(sql):
    # took 6.1 GB and ran 11.9 s through the 5 s timer: DuckDB does not check its interrupt while it builds the list
    before = peak_rss_mb()
    start = time.monotonic()
    with pytest.raises(ToolError, match="the query needs more than 256 MB of memory; aggregate, filter or add LIMIT"):
        run(sql, "SELECT max(len(l)) FROM (SELECT list(range) AS l FROM range(150000000))")
    assert time.monotonic() - start < 4
    assert peak_rss_mb() - before < 200  # the work happened in the worker ...
    assert worker_peak_mb(sql) < 1500  # ... within its limits
    assert run(sql, "SELECT COUNT(*) FROM expenses").value["rows"] == [[10]]


def test_deadline_stops_what_duckdb_does_not_interrupt(tables):
    # one scalar call over one huge value: DuckDB never looks at its interrupt flag, nor counts the memory
    tool = SqlTool(tables, timeout_s=1.0)
    run(tool, "SELECT 1")  # the worker's start is not the query's time
    before = peak_rss_mb()
    start = time.monotonic()
    with pytest.raises(ToolError, match="ran longer than 1 s|needs more than 256 MB"):
        run(tool, "SELECT len(regexp_extract_all(repeat('a', 20000000), 'a'))")
    assert time.monotonic() - start < 6  # in this process it ran 25 s, and grew by 3 GB
    assert peak_rss_mb() - before < 200
    assert run(tool, "SELECT COUNT(*) FROM expenses").value["rows"] == [[10]]


def test_huge_cells_are_refused_before_they_become_python_values(sql):
    with pytest.raises(ToolError, match="take 95.4 MB; at most 1 MB can be returned: select fewer columns"):
        run(sql, "SELECT repeat('x', 100000000) AS s")
    with pytest.raises(ToolError, match="at most 1 MB can be returned"):
        run(sql, "SELECT list(range) AS l FROM range(1000000)")
    assert len(run(sql, "SELECT repeat('x', 100000) AS s").value["rows"][0][0]) == 100000


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM sqlite_scan('data.db', 't')",  # names the extension folder under the home directory
        "SELECT * FROM read_xlsx('data.xlsx')",
        "SELECT * FROM duckdb_extensions()",
        "SELECT * FROM glob('~/*')",
    ],
)
def test_errors_show_no_server_paths(sql, query):
    with pytest.raises(ToolError) as info:
        run(sql, query)
    message = str(info.value)
    assert os.path.expanduser("~") + "/" not in message
    assert ".duckdb/extensions" not in message and "/etc/passwd" not in message
    assert "INSTALL" not in message  # the advice to install extensions cannot be followed here
    assert "Only these tables can be queried: expenses(" in message


def test_settings_show_no_server_paths(sql):
    # secret_directory was the server user's home + /.duckdb/stored_secrets
    query = "SELECT string_agg(name || '=' || coalesce(value, ''), ' ') FROM duckdb_settings()"
    (settings,) = run(sql, query).value["rows"][0]
    assert "secret_directory=" in settings
    assert os.path.expanduser("~") + "/" not in settings and os.getcwd() + "/" not in settings


def test_binder_error_keeps_the_columns_and_the_place(sql):
    with pytest.raises(ToolError) as info:
        run(sql, "SELECT price FROM expenses")
    message = str(info.value)
    assert 'Candidate bindings: "category"' in message  # DuckDB names the closest real column
    assert "LINE 1: SELECT price FROM expenses" in message


def test_scrub_keeps_arithmetic_and_urls():
    assert scrub('Cannot access file "/home/ann/x.csv" or "/nonexistent/.duckdb/extensions/v2"') == (
        'Cannot access file "<path>" or "<path>"'
    )
    assert scrub("LINE 1: SELECT 1/2, a/b, 10 /2/3 FROM t WHERE u = 'https://x.org/a/b'") == (
        "LINE 1: SELECT 1/2, a/b, 10 /2/3 FROM t WHERE u = 'https://x.org/a/b'"
    )


def test_values_keep_duckdbs_types(sql):
    query = (
        "SELECT 170141183460469231731687303715884105727::HUGEINT AS h, INTERVAL 1 DAY AS i, MAP {'a': 1} AS m, "
        "'101'::BITSTRING AS b, 1 AS h"
    )
    value = run(sql, query).value
    assert value["columns"] == ["h", "i", "m", "b", "h"]
    assert value["rows"] == [[170141183460469231731687303715884105727, "1 day, 0:00:00", {"a": 1}, "101", 1]]
