"""Tables of a collection's documents, stored as Parquet for the SQL tool.

Each table extracted at ingest (a CSV file, or a Markdown or HTML table; see
:mod:`ingest.tables`) is written under ``tables/<collection id>/`` of the data
directory (beside, not inside, the collection's vector files, which the vector
store owns and garbage-collects) as
``<name>.parquet`` plus ``<name>.json`` naming the document and the table's
span in its text, so that an answer computed from the table cites it. Names are
unique within a collection: a second ``expenses`` table becomes ``expenses_2``.
Files are written to a temporary name, fsynced and renamed, the JSON last, so a
table is listed only once both files are complete.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from rag.store.manifest import write_json_atomic

MAX_TABLES = 1000  # per collection: the SQL tool registers every table on each call


@dataclass(frozen=True)
class StoredTable:
    """A table the SQL tool can read, and the document span it came from."""

    name: str
    path: Path  # the Parquet file
    document_id: int
    filename: str
    char_start: int
    char_end: int


def list_tables(folder: Path) -> list[StoredTable]:
    """The complete tables in ``folder`` (one collection's), by name."""
    if not folder.is_dir():
        return []
    out = []
    for meta in sorted(folder.glob("*.json")):
        info = json.loads(meta.read_text(encoding="utf-8"))
        parquet = meta.with_suffix(".parquet")
        if parquet.is_file():
            out.append(
                StoredTable(
                    info["name"], parquet, info["document_id"], info["filename"], info["char_start"], info["char_end"]
                )
            )
    return out


def save_tables(folder: Path, document_id: int, filename: str, tables: list) -> list[StoredTable]:
    """Write a document's extracted tables (``ingest.tables.ExtractedTable``) into ``folder`` under fresh names.

    Returns:
        The stored tables, with the names they got.
    """
    folder.mkdir(parents=True, exist_ok=True)
    taken = {t.name for t in list_tables(folder)}
    stored = []
    for table in tables:
        if len(taken) >= MAX_TABLES:
            break
        name, n = table.name, 2
        while name in taken:
            name, n = f"{table.name}_{n}", n + 1
        taken.add(name)
        entry = StoredTable(name, folder / f"{name}.parquet", document_id, filename, table.char_start, table.char_end)
        _write_parquet(entry.path, table.table)
        info = {k: v for k, v in asdict(entry).items() if k != "path"}
        write_json_atomic(folder / f"{name}.json", info)
        stored.append(entry)
    return stored


def _write_parquet(path: Path, table: pa.Table) -> None:
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def remove_tables(folder: Path, document_ids: set[int]) -> int:
    """Remove the stored tables of these documents; return how many."""
    doomed = [t for t in list_tables(folder) if t.document_id in document_ids] if folder.is_dir() else []
    for table in doomed:
        table.path.with_suffix(".json").unlink(missing_ok=True)
        table.path.unlink(missing_ok=True)
    return len(doomed)
