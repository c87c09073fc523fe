"""The tools a request may use, looked up by name, with their arguments checked against their schemas.

The validator covers the JSON-Schema subset tools use (and constrained
decoding supports): ``type`` object/string/integer/number, ``properties``,
``required``, ``"additionalProperties": false``, ``enum``, ``const``,
``minLength`` and ``maxLength``. A tool whose schema uses anything else is
refused when it is added, so no keyword is silently left unchecked.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from core.errors import ConfigError
from rag.tools.base import Tool, ToolError, ToolResult

_TYPES = {"object": dict, "string": str, "integer": int, "number": (int, float)}
_TYPE_WORDS = {"object": "an object", "string": "a string", "integer": "an integer", "number": "a number"}
_KEYWORDS = {
    "object": {"properties", "required", "additionalProperties"},
    "string": {"minLength", "maxLength"},
    "integer": set(),
    "number": set(),
}
_ANY_TYPE = {"type", "enum", "const", "description", "title"}


def _show(value: Any) -> str:
    """A value as the model wrote it (JSON), for messages."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _check_schema(schema: Any, path: str) -> None:
    """Raises ConfigError unless ``schema`` stays within the subset :func:`validate` checks."""
    if not isinstance(schema, dict) or schema.get("type") not in _TYPES:
        raise ConfigError(f"{path}: a tool schema needs 'type', one of {', '.join(_TYPES)}")
    kind = schema["type"]
    unknown = sorted(set(schema) - _ANY_TYPE - _KEYWORDS[kind])
    if unknown:
        raise ConfigError(f"{path}: keyword {unknown[0]!r} is not supported in tool schemas of type {kind!r}")
    if kind == "object":
        if not isinstance(schema.get("properties"), dict) or schema.get("additionalProperties") is not False:
            raise ConfigError(f"{path}: an object needs 'properties' and \"additionalProperties\": false")
        missing = sorted(set(schema.get("required", [])) - set(schema["properties"]))
        if missing:
            raise ConfigError(f"{path}: required property {missing[0]!r} is not in 'properties'")
        for name, child in schema["properties"].items():
            _check_schema(child, f"{path}.{name}")


def validate(schema: dict[str, Any], value: Any, where: str) -> None:
    """Checks ``value`` against ``schema``.

    Args:
        schema: A schema that passed the registry's check (the subset above).
        value: The value to check, as ``json.loads`` returns it.
        where: What the value is, for messages: ``argument 'days' of tool 'date_add'``.

    Raises:
        ToolError: The value does not conform; the message names it and says what is expected.
    """
    kind = schema["type"]
    # bool is an int in Python but not an integer in JSON
    if not isinstance(value, _TYPES[kind]) or isinstance(value, bool):
        raise ToolError(f"{where} must be {_TYPE_WORDS[kind]}, got {_show(value)}")
    if "enum" in schema and value not in schema["enum"]:
        choices = ", ".join(_show(v) for v in schema["enum"])
        raise ToolError(f"{where} must be one of {choices}, got {_show(value)}")
    if "const" in schema and value != schema["const"]:
        raise ToolError(f"{where} must be {_show(schema['const'])}, got {_show(value)}")
    if kind == "string":
        if len(value) < schema.get("minLength", 0):
            raise ToolError(f"{where} must have at least {schema['minLength']} characters, got {len(value)}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise ToolError(f"{where} must have at most {schema['maxLength']} characters, got {len(value)}")
    if kind == "object":
        properties = schema["properties"]
        extra = [k for k in value if k not in properties]
        if extra:
            allowed = ", ".join(properties) or "none"
            raise ToolError(f"{where} has no argument {extra[0]!r}; the arguments are: {allowed}")
        for name in schema.get("required", []):
            if name not in value:
                expected = _TYPE_WORDS[properties[name]["type"]]
                raise ToolError(f"{where} needs argument {name!r} ({expected})")
        for name, item in value.items():
            validate(properties[name], item, f"argument {name!r} of {where}")


class ToolRegistry:
    """Tools by name; a request selects some of them and the model calls them through :meth:`call`."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            self.add(tool)

    def add(self, tool: Tool) -> None:
        """Registers ``tool``.

        Raises:
            ConfigError: The name is taken, or the schema leaves the supported subset.
        """
        if tool.name in self._tools:
            raise ConfigError(f"a tool named {tool.name!r} is already registered; give the new one another name")
        _check_schema(tool.parameters, f"parameters of tool {tool.name!r}")
        if tool.parameters["type"] != "object":
            raise ConfigError(f"parameters of tool {tool.name!r} must be an object schema")
        self._tools[tool.name] = tool

    def names(self) -> list[str]:
        """The registered names, in the order the tools were added."""
        return list(self._tools)

    def __len__(self) -> int:
        return len(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def get(self, name: str) -> Tool:
        """The tool called ``name``.

        Raises:
            ToolError: No such tool; the message lists the names there are.
        """
        try:
            return self._tools[name]
        except KeyError:
            raise ToolError(f"there is no tool {name!r}; the tools are: {', '.join(self._tools) or 'none'}") from None

    def select(self, spec: bool | Sequence[str] | None) -> list[Tool]:
        """The tools a request asks for.

        Args:
            spec: True: all tools; False or None: none; a list of names: those tools, in that order.

        Raises:
            ToolError: A name is unknown, or ``spec`` is of another kind.
        """
        if spec is None or spec is False:
            return []
        if spec is True:
            return list(self._tools.values())
        if isinstance(spec, str) or not isinstance(spec, Sequence):
            raise ToolError(f"tools must be true, false or a list of tool names, got {spec!r}")
        unknown = [name for name in spec if name not in self._tools]
        if unknown:
            raise ToolError(f"unknown tools: {', '.join(map(str, unknown))}; the tools are: {', '.join(self._tools)}")
        return [self._tools[name] for name in dict.fromkeys(spec)]

    def call(self, name: str, arguments: Any) -> ToolResult:
        """Checks ``arguments`` against the tool's schema, then runs the tool.

        Args:
            name: A registered tool name.
            arguments: The arguments object, as parsed from the model's JSON.

        Raises:
            ToolError: Unknown tool, arguments that do not conform, or a failed run.
        """
        tool = self.get(name)
        validate(tool.parameters, arguments, f"tool {name!r}")
        return tool(arguments)


def prompt_block(tools: Sequence[Tool]) -> str:
    """The tool list for the prompt: one line per tool, ``name: description Arguments: <schema>``.

    The schema is written compactly (no spaces), as the model will write the arguments.
    """
    lines = []
    for tool in tools:
        schema = json.dumps(tool.parameters, separators=(",", ":"), ensure_ascii=False)
        lines.append(f"{tool.name}: {tool.description} Arguments: {schema}")
    return "\n".join(lines)
