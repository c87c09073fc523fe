"""The calculator's evaluator: arithmetic as people write it, parsed with :mod:`ast`, with bounded cost.

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

Every step is bounded before it runs, so one expression costs microseconds
to milliseconds: integers (operands, intermediates and results) stay within
``MAX_BITS`` bits (10**1000 fits, anything over 1000 digits is refused); a
product whose operands' bit lengths add up past that is refused before it is
multiplied, and so is a power past ``MAX_EXPONENT`` or 1000 digits; ``round``
to more than 1002 places left of the point is 0 without computing ten to that
power (Python's ``round(1, -10**7)`` builds a ten-million-digit number); floats
stay finite. Anything else is linear or quadratic in at most 3322 bits.

This module imports nothing but the standard library: the calculator loads it
by file path in a worker process (:mod:`rag.tools.worker`), whose entry is :func:`run`.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable
from typing import Any

MAX_LENGTH = 200  # characters of an expression; also the schema's maxLength, so decoding ends
MAX_DIGITS = 1000  # of an integer, anywhere in the computation
MAX_BITS = 3322  # 10**1000 < 2**3322: an integer of more bits has more than MAX_DIGITS digits
MAX_EXPONENT = 1000
_MAX_INT = 10**MAX_DIGITS
_ZERO_PLACES = MAX_DIGITS + 2  # round(n, -k) for k past this is 0 for every allowed n: |n| <= 10**1000 < 10**k / 2


class ExpressionError(ValueError):
    """The expression cannot be evaluated; the message says what to change."""


def _round(number: int | float, ndigits: int | None = None) -> int | float:
    # int.__round__ computes 10**-ndigits first: bound it (floats clamp ndigits themselves)
    if isinstance(number, int) and isinstance(ndigits, int) and ndigits < -_ZERO_PLACES:
        return 0
    return round(number, ndigits)


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sqrt": math.sqrt,
    "abs": abs,
    "round": _round,
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
_TOO_MANY_DIGITS = f"the result has more than {MAX_DIGITS} digits; use smaller numbers"


def _rewrite(expression: str) -> str:
    """The expression in Python's arithmetic syntax (see the module docstring for the rules)."""
    text = _THOUSANDS.sub(lambda m: m.group().replace(",", ""), expression)
    text = text.replace("×", "*").replace("÷", "/").replace("−", "-").replace("^", "**")
    text = _TIMES.sub(r"\1*", text)
    return _PERCENT.sub(lambda m: f"({m.group(1)}/100)" + ("*" if m.group(2) else ""), text)


def _short(number: int | float) -> str:
    text = str(number)
    return text if len(text) <= 24 else f"a {len(text)}-digit number"


def _checked(value: Any) -> int | float:
    """``value`` if it is a real number within the limits."""
    if isinstance(value, complex):
        raise ExpressionError("the result is not a real number (a negative number to a fractional power?)")
    # bit_length first: it is O(1), and the comparison only runs on numbers near the limit
    if isinstance(value, int) and value.bit_length() >= MAX_BITS and abs(value) > _MAX_INT:
        raise ExpressionError(_TOO_MANY_DIGITS)
    if isinstance(value, float) and not math.isfinite(value):
        raise ExpressionError("the result is too large for a floating-point number; use smaller numbers")
    return value


def _multiply(left: int | float, right: int | float) -> int | float:
    # the product of an a-bit and a b-bit integer has at least a + b - 1 bits: refuse before multiplying
    if isinstance(left, int) and isinstance(right, int) and left.bit_length() + right.bit_length() > MAX_BITS + 1:
        raise ExpressionError(_TOO_MANY_DIGITS)
    return left * right


def _power(base: int | float, exponent: int | float) -> int | float:
    # an exact integer power is computed digit by digit, so refuse huge ones before starting
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        if exponent > MAX_EXPONENT or exponent * math.log10(abs(base)) > MAX_DIGITS:
            raise ExpressionError(
                f"{_short(base)}**{_short(exponent)} is too large: exponents are limited to {MAX_EXPONENT} "
                f"and results to {MAX_DIGITS} digits"
            )
    return base**exponent


_GUARDED = {ast.Mult: _multiply, ast.Pow: _power}


def _evaluate(node: ast.AST) -> int | float:
    """The value of one node of a parsed expression; refuses every node kind outside arithmetic."""
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, str | bytes):
            raise ExpressionError(f"strings such as {value!r} are not allowed; {_HELP}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ExpressionError(f"{value!r} is not a number; {_HELP}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ExpressionError("a number is too large for a floating-point number; use smaller numbers")
        return _checked(value)
    if isinstance(node, ast.Name):
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        if node.id in _FUNCTIONS:
            raise ExpressionError(f"{node.id} is a function; call it as {node.id}(...)")
        raise ExpressionError(f"names such as {node.id!r} are not allowed; {_HELP}; constants: pi, e")
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        apply = _GUARDED.get(type(node.op), _BINARY[type(node.op)])
        try:
            return _checked(apply(left, right))
        except ZeroDivisionError:
            raise ExpressionError(f"division by zero in {ast.unparse(node)}; check the divisor") from None
        except OverflowError:
            raise ExpressionError("the result is too large for a floating-point number; use smaller numbers") from None
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.BinOp | ast.UnaryOp):
        raise ExpressionError(f"the operator in {ast.unparse(node)} is not allowed; {_HELP}")
    if isinstance(node, ast.Call):
        return _call(node)
    if isinstance(node, ast.Attribute):
        raise ExpressionError(f"attributes such as '.{node.attr}' are not allowed; {_HELP}")
    kind = _REFUSED.get(type(node), f"{type(node).__name__} expressions")
    raise ExpressionError(f"{kind} are not allowed; {_HELP}")


def _call(node: ast.Call) -> int | float:
    if not isinstance(node.func, ast.Name):
        if isinstance(node.func, ast.Constant | ast.BinOp | ast.UnaryOp | ast.Call):
            arguments = ", ".join(map(ast.unparse, node.args))
            raise ExpressionError(f"write multiplication with *: {ast.unparse(node.func)}*({arguments})")
        return _evaluate(node.func)  # refuses the attribute, subscript ... being called
    name = node.func.id
    if name not in _FUNCTIONS:
        raise ExpressionError(f"functions such as {name!r} are not allowed; the functions are: {', '.join(_FUNCTIONS)}")
    if node.keywords:
        raise ExpressionError(f"keyword arguments are not allowed; write {name}(x) with plain values")
    args = [_evaluate(arg) for arg in node.args]
    if name in ("min", "max") and len(args) < 2:
        raise ExpressionError(
            f"{name} needs two or more numbers, such as {name}(3, 4); a comma before three digits is a "
            f"thousands separator, so write {name}(1, 234) with a space for two numbers"
        )
    try:
        return _checked(_FUNCTIONS[name](*args))
    except (ValueError, TypeError, OverflowError, ZeroDivisionError) as exc:
        raise ExpressionError(f"{ast.unparse(node)} cannot be computed: {exc}") from None


def evaluate(expression: str) -> int | float:
    """The value of an arithmetic expression (see the module docstring for the syntax and the bounds).

    Raises:
        ExpressionError: The expression is too long, does not parse, uses something other
            than arithmetic, divides by zero, or a number in it exceeds the limits.
    """
    if len(expression) > MAX_LENGTH:
        raise ExpressionError(f"the expression has {len(expression)} characters; at most {MAX_LENGTH} are allowed")
    if not expression.strip():
        raise ExpressionError(f"the expression is empty; write one such as 17.5% of 2,340; {_HELP}")
    rewritten = _rewrite(expression.strip())
    try:
        tree = ast.parse(rewritten, mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        reason = exc.msg if isinstance(exc, SyntaxError) else str(exc) if isinstance(exc, ValueError) else "too deep"
        raise ExpressionError(f"could not read {expression.strip()!r} ({reason}); {_HELP}") from None
    try:
        return _evaluate(tree)
    except RecursionError:
        raise ExpressionError("the expression is nested too deeply; write it with fewer parentheses") from None


def run(expression: str) -> tuple[str, int | float | str]:
    """The worker's entry: ``("ok", value)``, or ``("refused", message)`` when :func:`evaluate` refuses."""
    try:
        return "ok", evaluate(expression)
    except ExpressionError as exc:
        return "refused", str(exc)
