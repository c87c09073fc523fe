"""The contract every tool the language model may call during question answering follows.

A tool is a small callable with a name, a one- or two-sentence description for
the prompt and a JSON schema of its arguments. The model writes the arguments
under constrained decoding (:class:`rag.model.json_machine.JsonMachine`), so a
schema may use only that machine's subset of JSON Schema: an object with
``properties``, ``required`` and ``"additionalProperties": false``, whose
values use ``type``, ``enum``, ``const``, ``minLength`` and ``maxLength``.
Strings carry a ``maxLength`` so that decoding is certain to end.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from core.errors import InvalidInputError

SIGNIFICANT_DIGITS = 12  # enough for money and measurements, few enough to hide float noise (409.49999999999994)


class ToolError(InvalidInputError):
    """A tool was called with bad arguments or its run failed; the message says what to change.

    The message goes back to the model (and to the user in a citation), so it
    names the bad value and the form that would work.
    """


@dataclass(frozen=True)
class ToolResult:
    """What one tool call produced.

    Attributes:
        text: What the model reads and a citation shows: short and human readable,
            for example ``17.5% of 2,340 = 409.5``.
        value: The result as a JSON-serialisable value (a number, a string, a dict
            of columns and rows ...), for callers that compute further.
        source: What the result was computed from, for example
            ``table expenses (expenses.parquet)``; None when it needs no source.
    """

    text: str
    value: Any
    source: str | None = None


class Tool(ABC):
    """A function the model may call by name with a JSON object of arguments.

    Subclasses set ``name``, ``description`` and ``parameters`` (as class or
    instance attributes) and implement ``__call__``. A call runs in the thread
    of the request that made it: a tool whose work could run long, hold the GIL
    or allocate without bound runs that work in a worker process
    (:class:`rag.tools.worker.WorkerPool`, as the calculator and sql tools do),
    so that a deadline frees the caller and a memory limit protects the server.

    Attributes:
        name: The name the model writes to call the tool (snake_case, unique in a registry).
        description: One or two sentences for the prompt: what the tool computes and when to use it.
        parameters: JSON schema of the arguments object, in the subset described in this module.
    """

    name: str
    description: str
    parameters: dict[str, Any]

    @abstractmethod
    def __call__(self, arguments: dict[str, Any]) -> ToolResult:
        """Runs the tool.

        Args:
            arguments: The arguments object. It conforms to ``parameters`` when the
                call comes through :meth:`ToolRegistry.call`, which checks it first.

        Returns:
            The result, with a short text for the model.

        Raises:
            ToolError: The arguments cannot be used or the run failed; the message says what to change.
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def object_schema(properties: dict[str, dict[str, Any]], required: list[str] | None = None) -> dict[str, Any]:
    """The arguments schema of a tool: an object with exactly these properties.

    Args:
        properties: Property name -> schema, in the order the model writes them.
        required: Names that must be given; None: all of them.

    Returns:
        ``{"type": "object", "properties": ..., "required": ..., "additionalProperties": False}``.
    """
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
    }


def format_number(value: int | float) -> str:
    """A number as the model and a citation should read it.

    Integers stay exact; floats are rounded to 12 significant digits, and an
    integral float loses its ``.0`` (``409.49999999999994`` -> ``409.5``, ``2.0`` -> ``2``).
    """
    if isinstance(value, bool) or not isinstance(value, float):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    text = f"{value:.{SIGNIFICANT_DIGITS}g}"
    return "0" if text == "-0" else text
