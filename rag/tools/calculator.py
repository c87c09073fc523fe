"""A calculator for arithmetic the model should not do in its head (sums, percentages, ratios).

The expression is parsed with :mod:`ast` and walked node by node; nothing is
ever passed to ``eval`` or ``exec``, and every node kind outside plain
arithmetic is refused with a message saying what is allowed.

Before parsing, the ways people write arithmetic in documents are rewritten
into Python's:

* Thousands separators: a comma after one to three digits and followed by
  groups of exactly three digits joins them (``2,340`` -> ``2340``,
  ``1,234,567.5`` -> ``1234567.5``). So ``max(1,234)`` means ``max(1234)``;
  write ``max(1, 234)`` (with a space) for two arguments.
* ``%`` right after a number is a percentage unless a number, name or ``(``
  follows, which makes it modulo: ``17.5% * 2340`` and ``17.5% of 2340`` are
  0.175 * 2340, ``10 % 3`` is 1. ``of`` after a percentage multiplies.
* ``x`` between two operands (``3 x 4``, ``3x4``) or ``×`` multiplies, ``÷`` divides, ``^`` raises to a power.

Results are bounded so that one call cannot eat the machine: integers up to
10**1000, exponents up to 1000 (checked before ``**`` runs), finite floats.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable
from typing import Any

from rag.tools.base import Tool, ToolError, ToolResult, format_number, object_schema

MAX_LENGTH = 200  # characters of an expression; also the schema's maxLength, so decoding ends
MAX_DIGITS = 1000  # of an integer result
MAX_EXPONENT = 1000
_MAX_INT = 10**MAX_DIGITS

_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sqrt": math.sqrt,
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
    "log": math.log,
    "log10": math.log10,
    "exp": math.exp,
    "floor": math.floor,
    "ceil": math.ceil,
}
_CONSTANTS = {"pi": math.pi, "e": math.e}
_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_HELP = f"use numbers, + - * / // % ** ( ) and the functions {', '.join(_FUNCTIONS)}"
_REFUSED = {  # node kind -> how the message names it
    ast.Subscript: "subscripts such as x[0]",
    ast.Lambda: "lambda functions",
    ast.Compare: "comparisons",
    ast.BoolOp: "'and' and 'or'",
    ast.IfExp: "if/else expressions",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.List: "lists",
    ast.Set: "sets",
    ast.Dict: "dicts",
    ast.Tuple: "several values separated by commas (for thousands write 2340 or 2,340)",
    ast.JoinedStr: "strings",
    ast.NamedExpr: "assignments",
    ast.Starred: "starred arguments",
}

_THOUSANDS = re.compile(r"(?<![\w.])\d{1,3}(?:,\d{3})+(?!\d)")
_TIMES = re.compile(r"([\d.)%])\s*[xX]\s*(?=[\w.(])")  # x between operands, not the name x
# a number, then % not followed by an operand (else it is modulo), optionally then "of"
_PERCENT = re.compile(r"(?<![\w.])(\d+(?:\.\d*)?|\.\d+)\s*%(?:\s*(of)(?![\w])|(?!\s*[\w.(]))")


def _rewrite(expression: str) -> str:
    """The expression in Python's arithmetic syntax (see the module docstring for the rules)."""
    text = _THOUSANDS.sub(lambda m: m.group().replace(",", ""), expression)
    text = text.replace("×", "*").replace("÷", "/").replace("−", "-").replace("^", "**")
    text = _TIMES.sub(r"\1*", text)
    return _PERCENT.sub(lambda m: f"({m.group(1)}/100)" + ("*" if m.group(2) else ""), text)


def _short(number: int | float) -> str:
    text = format_number(number)
    return text if len(text) <= 24 else f"a {len(text)}-digit number"


def _checked(value: Any) -> int | float:
    """``value`` if it is a real number within the limits."""
    if isinstance(value, complex):
        raise ToolError("the result is not a real number (a negative number to a fractional power?)")
    if isinstance(value, int) and abs(value) > _MAX_INT:
        raise ToolError(f"the result has more than {MAX_DIGITS} digits; use smaller numbers")
    if isinstance(value, float) and not math.isfinite(value):
        raise ToolError("the result is too large for a floating-point number; use smaller numbers")
    return value


def _power(base: int | float, exponent: int | float) -> int | float:
    # an exact integer power is computed digit by digit, so refuse huge ones before starting
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        if exponent > MAX_EXPONENT or exponent * math.log10(abs(base)) > MAX_DIGITS:
            raise ToolError(
                f"{_short(base)}**{_short(exponent)} is too large: exponents are limited to {MAX_EXPONENT} "
                f"and results to {MAX_DIGITS} digits"
            )
    return base**exponent


def _evaluate(node: ast.AST) -> int | float:
    """The value of one node of a parsed expression; refuses every node kind outside arithmetic."""
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, str | bytes):
            raise ToolError(f"strings such as {value!r} are not allowed; {_HELP}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ToolError(f"{value!r} is not a number; {_HELP}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ToolError("a number is too large for a floating-point number; use smaller numbers")
        return _checked(value)
    if isinstance(node, ast.Name):
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        if node.id in _FUNCTIONS:
            raise ToolError(f"{node.id} is a function; call it as {node.id}(...)")
        raise ToolError(f"names such as {node.id!r} are not allowed; {_HELP}; constants: pi, e")
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        apply = _power if isinstance(node.op, ast.Pow) else _BINARY[type(node.op)]
        try:
            return _checked(apply(left, right))
        except ZeroDivisionError:
            raise ToolError(f"division by zero in {ast.unparse(node)}; check the divisor") from None
        except OverflowError:
            raise ToolError("the result is too large for a floating-point number; use smaller numbers") from None
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.BinOp | ast.UnaryOp):
        raise ToolError(f"the operator in {ast.unparse(node)} is not allowed; {_HELP}")
    if isinstance(node, ast.Call):
        return _call(node)
    if isinstance(node, ast.Attribute):
        raise ToolError(f"attributes such as '.{node.attr}' are not allowed; {_HELP}")
    kind = _REFUSED.get(type(node), f"{type(node).__name__} expressions")
    raise ToolError(f"{kind} are not allowed; {_HELP}")


def _call(node: ast.Call) -> int | float:
    if not isinstance(node.func, ast.Name):
        if isinstance(node.func, ast.Constant | ast.BinOp | ast.UnaryOp | ast.Call):
            arguments = ", ".join(map(ast.unparse, node.args))
            raise ToolError(f"write multiplication with *: {ast.unparse(node.func)}*({arguments})")
        return _evaluate(node.func)  # refuses the attribute, subscript ... being called
    name = node.func.id
    if name not in _FUNCTIONS:
        raise ToolError(f"functions such as {name!r} are not allowed; the functions are: {', '.join(_FUNCTIONS)}")
    if node.keywords:
        raise ToolError(f"keyword arguments are not allowed; write {name}(x) with plain values")
    args = [_evaluate(arg) for arg in node.args]
    if name in ("min", "max") and len(args) < 2:
        raise ToolError(
            f"{name} needs two or more numbers, such as {name}(3, 4); a comma before three digits is a "
            f"thousands separator, so write {name}(1, 234) with a space for two numbers"
        )
    try:
        return _checked(_FUNCTIONS[name](*args))
    except (ValueError, TypeError, OverflowError, ZeroDivisionError) as exc:
        raise ToolError(f"{ast.unparse(node)} cannot be computed: {exc}") from None


def evaluate(expression: str) -> int | float:
    """The value of an arithmetic expression (see the module docstring for the syntax).

    Raises:
        ToolError: The expression is too long, does not parse, uses something other
            than arithmetic, divides by zero, or its result exceeds the limits.
    """
    if len(expression) > MAX_LENGTH:
        raise ToolError(f"the expression has {len(expression)} characters; at most {MAX_LENGTH} are allowed")
    if not expression.strip():
        raise ToolError(f"the expression is empty; write one such as 17.5% of 2,340; {_HELP}")
    rewritten = _rewrite(expression.strip())
    try:
        tree = ast.parse(rewritten, mode="eval")
    except (SyntaxError, ValueError) as exc:
        reason = exc.msg if isinstance(exc, SyntaxError) else str(exc)
        raise ToolError(f"could not read {expression.strip()!r} ({reason}); {_HELP}") from None
    return _evaluate(tree)


class Calculator(Tool):
    """Evaluates arithmetic exactly: ``{"expression": "17.5% of 2,340"}`` -> ``17.5% of 2,340 = 409.5``."""

    name = "calculator"
    description = (
        "Evaluates an arithmetic expression, such as '17.5% of 2,340' or '(1200 - 950) / 950 * 100'. "
        "Use it for every sum, difference, percentage or ratio instead of computing in your head."
    )
    parameters = object_schema({"expression": {"type": "string", "minLength": 1, "maxLength": MAX_LENGTH}})

    def __call__(self, arguments: dict[str, Any]) -> ToolResult:
        expression = arguments["expression"]
        result = evaluate(expression)
        if isinstance(result, float):
            result = float(format_number(result))  # the value a reader sees, without float noise
        return ToolResult(text=f"{expression.strip()} = {format_number(result)}", value=result)
