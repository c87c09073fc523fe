"""Date tools: today's date, a date plus some days, and the days between two dates.

Dates are ISO strings, ``YYYY-MM-DD``, or the word ``today``; the clock is an
argument so that tests (and a replayed request) see a fixed day.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from rag.tools.base import Tool, ToolError, ToolResult, object_schema

Clock = Callable[[], date]
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}")
_FORMAT = "write dates as YYYY-MM-DD (for example 2024-02-29) or 'today'"
_DATE = {"type": "string", "minLength": 5, "maxLength": 10, "description": "YYYY-MM-DD or today"}


def _show(day: date) -> str:
    return f"{day.isoformat()} ({day.strftime('%A')})"


def parse_date(text: str, today: Clock, argument: str) -> date:
    """The date ``text`` names.

    Args:
        text: ``YYYY-MM-DD`` or ``today``.
        today: The clock ``today`` reads.
        argument: The argument's name, for messages.

    Raises:
        ToolError: The text is not in that form, or names a day that does not exist (2023-02-30).
    """
    if text.strip().lower() == "today":
        return today()
    if not _ISO.fullmatch(text):
        raise ToolError(f"{argument} {text!r} is not a date; {_FORMAT}")
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ToolError(f"{argument} {text!r} does not exist ({exc}); {_FORMAT}") from None


class Today(Tool):
    """Today's date with its weekday: ``2026-11-30 (Monday)``."""

    name = "today"
    description = "Gives today's date and weekday. Use it for questions about now, ages, deadlines or 'how long ago'."
    parameters = object_schema({})

    def __init__(self, today: Clock = date.today) -> None:
        self._today = today

    def __call__(self, arguments: dict[str, Any]) -> ToolResult:
        day = self._today()
        return ToolResult(text=f"today is {_show(day)}", value=day.isoformat())


class DateAdd(Tool):
    """A date plus (or minus) a number of days: ``2024-02-28 + 1 days = 2024-02-29 (Thursday)``."""

    name = "date_add"
    description = "Adds a number of days (negative to go back) to a date and gives the resulting date and weekday."
    parameters = object_schema({"date": _DATE, "days": {"type": "integer"}})

    def __init__(self, today: Clock = date.today) -> None:
        self._today = today

    def __call__(self, arguments: dict[str, Any]) -> ToolResult:
        start = parse_date(arguments["date"], self._today, "date")
        days = arguments["days"]
        try:
            end = start + timedelta(days=days)
        except OverflowError:
            raise ToolError(
                f"{start.isoformat()} + {days} days is outside the years 1 to 9999; use fewer days"
            ) from None
        sign = "-" if days < 0 else "+"
        return ToolResult(text=f"{start.isoformat()} {sign} {abs(days)} days = {_show(end)}", value=end.isoformat())


class DaysBetween(Tool):
    """The number of days from one date to another (negative when ``end`` comes first)."""

    name = "days_between"
    description = "Counts the days from start to end (negative when end is earlier); use it for durations and ages."
    parameters = object_schema({"start": _DATE, "end": _DATE})

    def __init__(self, today: Clock = date.today) -> None:
        self._today = today

    def __call__(self, arguments: dict[str, Any]) -> ToolResult:
        start = parse_date(arguments["start"], self._today, "start")
        end = parse_date(arguments["end"], self._today, "end")
        days = (end - start).days
        return ToolResult(text=f"from {_show(start)} to {_show(end)}: {days} days", value=days)
