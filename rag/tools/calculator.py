"""A calculator for arithmetic the model should not do in its head (sums, percentages, ratios).

The syntax, the safety (an :mod:`ast` walk, never ``eval``) and the bounds on
every step are :mod:`rag.tools.arithmetic`'s. The tool evaluates in a worker
process (:mod:`rag.tools.worker`) under a deadline, so that an expression the
bounds missed can neither stall the server's other requests (big-integer
arithmetic holds the GIL) nor outlive ``timeout_s``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.errors import ConfigError
from rag.tools import arithmetic
from rag.tools.arithmetic import MAX_LENGTH, ExpressionError
from rag.tools.base import Tool, ToolError, ToolResult, format_number, object_schema
from rag.tools.worker import ToolMemoryError, ToolTimeoutError, WorkerPool

TIMEOUT_S = 1.0  # every bounded expression takes milliseconds: past a second something was missed
MEMORY_MB = 64  # the largest numbers allowed take kilobytes
_WORKERS = WorkerPool(Path(arithmetic.__file__), "run", name="the calculator", workers=2, memory_mb=MEMORY_MB)


def evaluate(expression: str) -> int | float:
    """The value of an arithmetic expression, computed in this process (see :mod:`rag.tools.arithmetic`).

    Raises:
        ToolError: The expression is too long, does not parse, uses something other
            than arithmetic, divides by zero, or a number in it exceeds the limits.
    """
    try:
        return arithmetic.evaluate(expression)
    except ExpressionError as exc:
        raise ToolError(str(exc)) from None


class Calculator(Tool):
    """Evaluates arithmetic exactly: ``{"expression": "17.5% of 2,340"}`` -> ``17.5% of 2,340 = 409.5``.

    Args:
        timeout_s: Seconds one evaluation may take in the worker process.
        workers: The worker processes; None: the process-wide calculator pool.

    Raises:
        ConfigError: ``timeout_s`` is not positive.
    """

    name = "calculator"
    description = (
        "Evaluates an arithmetic expression, such as '17.5% of 2,340' or '(1200 - 950) / 950 * 100'. "
        "Use it for every sum, difference, percentage or ratio instead of computing in your head."
    )
    parameters = object_schema({"expression": {"type": "string", "minLength": 1, "maxLength": MAX_LENGTH}})

    def __init__(self, timeout_s: float = TIMEOUT_S, workers: WorkerPool | None = None) -> None:
        if timeout_s <= 0:
            raise ConfigError(f"timeout_s must be positive, got {timeout_s}")
        self.timeout_s = timeout_s
        self.workers = workers or _WORKERS

    def __call__(self, arguments: dict[str, Any]) -> ToolResult:
        expression = arguments["expression"]
        try:
            kind, result = self.workers.call(expression, timeout_s=self.timeout_s)
        except (ToolTimeoutError, ToolMemoryError) as exc:
            raise type(exc)(f"{exc}; use smaller numbers or fewer operations") from None
        if kind == "refused":
            raise ToolError(result)
        if isinstance(result, float):
            result = float(format_number(result))  # the value a reader sees, without float noise
        return ToolResult(text=f"{expression.strip()} = {format_number(result)}", value=result)
