"""The date tools read a fixed clock, count days across leap years and refuse dates that do not exist."""

from __future__ import annotations

from datetime import date

import pytest

from rag.tools import ToolError
from rag.tools.dates import DateAdd, DaysBetween, Today


def clock() -> date:
    return date(2026, 11, 30)


def test_today():
    result = Today(clock)({})
    assert result.value == "2026-11-30"
    assert result.text == "today is 2026-11-30 (Monday)"


@pytest.mark.parametrize(
    ("start", "days", "end"),
    [
        ("2024-02-28", 1, "2024-02-29"),
        ("2024-02-29", 1, "2024-03-01"),
        ("2023-02-28", 1, "2023-03-01"),
        ("2024-03-01", -1, "2024-02-29"),
        ("2024-01-31", 0, "2024-01-31"),
        ("today", 1, "2026-12-01"),
    ],
)
def test_date_add(start, days, end):
    assert DateAdd(clock)({"date": start, "days": days}).value == end


def test_date_add_text():
    assert DateAdd(clock)({"date": "2024-02-28", "days": 1}).text == "2024-02-28 + 1 days = 2024-02-29 (Thursday)"
    assert DateAdd(clock)({"date": "2024-03-01", "days": -1}).text == "2024-03-01 - 1 days = 2024-02-29 (Thursday)"


def test_days_between():
    tool = DaysBetween(clock)
    assert tool({"start": "2024-01-01", "end": "2024-03-01"}).value == 60  # 2024 is a leap year
    assert tool({"start": "2023-01-01", "end": "2023-03-01"}).value == 59
    assert tool({"start": "2024-03-01", "end": "2024-01-01"}).value == -60
    assert tool({"start": "2026-11-01", "end": "today"}).value == 29
    assert tool({"start": "2024-02-29", "end": "2024-02-29"}).text.endswith(": 0 days")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2023-02-30", "'2023-02-30' does not exist"),
        ("2023-02-29", "'2023-02-29' does not exist"),
        ("2024-13-01", "'2024-13-01' does not exist"),
        ("2024/01/01", "'2024/01/01' is not a date"),
        ("01-02-2024", "'01-02-2024' is not a date"),
        ("2024-1-1", "'2024-1-1' is not a date"),
        ("tomorrow", "'tomorrow' is not a date"),
    ],
)
def test_bad_dates_name_the_value_and_the_format(value, message):
    for call in (
        lambda: DateAdd(clock)({"date": value, "days": 1}),
        lambda: DaysBetween(clock)({"start": value, "end": "2024-01-01"}),
        lambda: DaysBetween(clock)({"start": "2024-01-01", "end": value}),
    ):
        with pytest.raises(ToolError) as info:
            call()
        assert message in str(info.value)
        assert "YYYY-MM-DD" in str(info.value)


@pytest.mark.parametrize(("start", "days"), [("9999-12-31", 1), ("0001-01-01", -1), ("2024-01-01", 10**12)])
def test_date_add_out_of_range(start, days):
    with pytest.raises(ToolError, match="outside the years 1 to 9999"):
        DateAdd(clock)({"date": start, "days": days})
