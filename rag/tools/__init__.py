"""Tools the local language model may call while it answers: a calculator, read-only SQL, date arithmetic.

A request selects tools from a :class:`ToolRegistry` (``select(True)``, or a
list of names); the prompt lists them with :func:`prompt_block`; the model
writes ``{"name": ..., "arguments": {...}}`` under constrained decoding, and
:meth:`ToolRegistry.call` checks the arguments and runs the tool. The
:class:`ToolResult` text goes back to the model and into the citations.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from types import MappingProxyType

from rag.tools.base import Tool, ToolError, ToolResult
from rag.tools.calculator import Calculator
from rag.tools.dates import Clock, DateAdd, DaysBetween, Today
from rag.tools.registry import ToolRegistry, prompt_block
from rag.tools.sql import SqlTool

__all__ = [
    "Calculator",
    "DateAdd",
    "DaysBetween",
    "SqlTool",
    "Today",
    "Tool",
    "ToolError",
    "ToolRegistry",
    "ToolResult",
    "default_registry",
    "prompt_block",
]

_NO_TABLES: Mapping[str, Path] = MappingProxyType({})


def default_registry(tables: Mapping[str, Path] = _NO_TABLES, today: Clock = date.today) -> ToolRegistry:
    """The platform's tools: calculator, sql, today, date_add, days_between.

    Args:
        tables: Table name -> Parquet file for the ``sql`` tool; with none, ``sql``
            is still listed and every call says to upload a table.
        today: The clock of the date tools.
    """
    return ToolRegistry([Calculator(), SqlTool(tables), Today(today), DateAdd(today), DaysBetween(today)])
