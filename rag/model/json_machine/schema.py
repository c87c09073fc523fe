"""Compiling a JSON-Schema subset into the dispatch tables and leaves :class:`JsonMachine` walks.

A *leaf* is one kind of value (string with length bounds, number, array,
declared object, free-form map, set of literals); a *table* maps the first
byte of a value to the leaf it starts. Containers refer to their children's
tables by index, so the compiled schema is flat lists and the automaton's
states stay small tuples of ints.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Hashable

from core.errors import ConfigError

_DESCRIPTIVE = frozenset(
    {"title", "description", "$comment", "examples", "default", "$schema", "deprecated", "readOnly", "writeOnly"}
)
_BY_TYPE = {
    "object": frozenset({"properties", "required", "additionalProperties"}),
    "array": frozenset({"items", "minItems", "maxItems"}),
    "string": frozenset({"minLength", "maxLength"}),
    "number": frozenset(),
    "integer": frozenset(),
    "boolean": frozenset(),
    "null": frozenset(),
}
_KNOWN = _DESCRIPTIVE.union({"type", "enum", "const", "anyOf"}, *_BY_TYPE.values())
_FIRST = {"str": b'"', "num": b"-0123456789", "arr": b"[", "obj": b"{", "map": b"{"}


def _encode(value: object, path: str) -> bytes:
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError) as exc:
        raise ConfigError(f"{path}: {value!r} is not a JSON value ({exc})") from exc


def _count(schema: dict, key: str, default: int, path: str) -> int:
    if key not in schema:
        return default
    value = schema[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{path}: {key!r} must be a non-negative integer, got {value!r}")
    return value


class SchemaCompiler(ABC):
    """Turns a schema into ``_leaves`` and ``_tables``; :class:`JsonMachine` adds the automaton that walks them."""

    def __init__(self) -> None:
        self._leaves: list[tuple] = []  # value kinds; frames refer to them by index
        self._tables: list[tuple[int, ...]] = []  # dispatch: first byte -> leaf index or -1
        self._any: int | None = None
        self._merged: dict[frozenset[int], int] = {}

    @abstractmethod
    def step(self, state: tuple, byte: int) -> tuple | None:
        """The automaton's transition (enum values are checked by running it)."""

    @abstractmethod
    def accepting(self, state: Hashable) -> bool:
        """Whether the automaton may stop here."""

    def _add(self, leaf: tuple) -> int:
        self._leaves.append(leaf)
        return len(self._leaves) - 1

    def _table(self, leaves: list[int]) -> int:
        table = [-1] * 256
        for leaf in leaves:
            kind = self._leaves[leaf][0]
            for b in _FIRST[kind] if kind != "lit" else {e[0] for e in self._leaves[leaf][2]}:
                table[b] = leaf
        self._tables.append(tuple(table))
        return len(self._tables) - 1

    def _literals(self, encodings: set[bytes]) -> int:
        prefixes = frozenset(e[:k] for e in encodings for k in range(1, len(e) + 1))
        extendable = frozenset(e for e in encodings if any(o != e and o.startswith(e) for o in encodings))
        return self._add(("lit", prefixes, frozenset(encodings), extendable))

    def _accepts(self, table: int, data: bytes) -> bool:
        state: tuple | None = (("V", table, 0),)
        for b in data:
            state = self.step(state, b)
            if state is None:
                return False
        return self.accepting(state)

    def _any_value(self) -> int:
        if self._any is None:
            self._any = len(self._tables)
            self._tables.append(())  # reserved now, filled below: the containers refer to its index
            leaves = [self._add(("map", self._any)), self._add(("arr", self._any, 0, -1, 0))]
            leaves += [self._add(("str", 0, -1, 0)), self._add(("num", False)), self._literals({b"true", b"false"})]
            leaves.append(self._literals({b"null"}))
            self._tables[self._any] = self._tables[self._table(leaves)]
        return self._any

    def _compile(self, schema: dict | bool, path: str) -> int:
        """The dispatch table (index) for values conforming to ``schema``."""
        if schema is True:
            schema = {}
        if not isinstance(schema, dict):
            raise ConfigError(f"{path}: a schema must be an object or true, got {schema!r}")
        unknown = sorted(set(schema) - _KNOWN)
        if unknown:
            raise ConfigError(f"{path}: JSON Schema keyword {unknown[0]!r} is not supported by JsonMachine")
        if "enum" in schema or "const" in schema:
            values = schema.get("enum", [schema.get("const")])
            if not isinstance(values, list) or not values:
                raise ConfigError(f"{path}: 'enum' must be a non-empty list")
            encodings = {_encode(v, path) for v in values}
            if "const" in schema:
                encodings &= {_encode(schema["const"], path)}
            base = self._compile({k: v for k, v in schema.items() if k not in ("enum", "const")}, path)
            kept = {e for e in encodings if self._accepts(base, e)}
            if not kept:
                raise ConfigError(f"{path}: no value of 'enum'/'const' conforms to the rest of the schema")
            return self._table([self._literals(kept)])
        if "anyOf" in schema:
            others = sorted(set(schema) - _DESCRIPTIVE - {"anyOf"})
            if others:
                raise ConfigError(f"{path}: {others[0]!r} next to 'anyOf' is not supported; move it into the branches")
            branches = schema["anyOf"]
            if not isinstance(branches, list) or not branches:
                raise ConfigError(f"{path}: 'anyOf' must be a non-empty list of schemas")
            return self._merge([self._compile(s, f"{path}/anyOf/{i}") for i, s in enumerate(branches)], path)
        types = schema.get("type")
        if types is None:
            types = [t for t, keys in _BY_TYPE.items() if keys & schema.keys()]
            if not types:
                return self._any_value()
            if len(types) > 1:
                raise ConfigError(f"{path}: keywords of several types ({', '.join(types)}); give 'type'")
        types = [types] if isinstance(types, str) else types
        if not isinstance(types, list) or not types or any(t not in _BY_TYPE for t in types):
            raise ConfigError(f"{path}: 'type' must be one of {sorted(_BY_TYPE)} or a non-empty list of them")
        if "number" in types:
            types = [t for t in types if t != "integer"]  # every integer is a number
        return self._merge([self._table([self._leaf(t, schema, path)]) for t in dict.fromkeys(types)], path)

    def _leaf(self, kind: str, schema: dict, path: str) -> int:
        if kind in ("integer", "number"):
            return self._add(("num", kind == "integer"))
        if kind in ("boolean", "null"):
            return self._literals({b"true", b"false"} if kind == "boolean" else {b"null"})
        if kind in ("string", "array"):
            low, high = ("minLength", "maxLength") if kind == "string" else ("minItems", "maxItems")
            lo, hi = _count(schema, low, 0, path), _count(schema, high, -1, path)
            if 0 <= hi < lo:
                raise ConfigError(f"{path}: {low} {lo} is above {high} {hi}")
            cap = hi if hi >= 0 else lo  # counts stop there, so that longer values share states
            if kind == "string":
                return self._add(("str", lo, hi, cap))
            if isinstance(schema.get("items"), list):
                raise ConfigError(f"{path}: tuple 'items' (a list of schemas) is not supported")
            return self._add(("arr", self._compile(schema.get("items", True), f"{path}/items"), lo, hi, cap))
        props, required = schema.get("properties"), schema.get("required", [])
        extra = schema.get("additionalProperties")
        if not isinstance(required, list) or any(not isinstance(r, str) for r in required):
            raise ConfigError(f"{path}: 'required' must be a list of property names")
        if props is None:
            if required:
                raise ConfigError(f"{path}: 'required' needs 'properties' (only declared keys can be forced)")
            if extra is not False:
                return self._add(
                    ("map", self._compile(True if extra is None else extra, f"{path}/additionalProperties"))
                )
            props = {}
        if not isinstance(props, dict):
            raise ConfigError(f"{path}: 'properties' must be an object")
        if extra not in (None, False):
            raise ConfigError(f"{path}: 'additionalProperties' next to 'properties' must be false or absent")
        missing = sorted(set(required) - set(props))
        if missing:
            raise ConfigError(f"{path}: required property {missing[0]!r} is not in 'properties'")
        names = list(props)
        keys = [_encode(n, path) for n in names]
        values = tuple(self._compile(props[n], f"{path}/properties/{n}") for n in names)
        must = [n in required for n in names]
        key_tables = []
        for i in range(len(names) + 1):  # after i keys: the next may be any up to the first required one
            last = next((j for j in range(i, len(names)) if must[j]), len(names) - 1)
            table = {k[:m]: -1 for k in keys[i : last + 1] for m in range(1, len(k))}
            table.update({keys[j]: j for j in range(i, last + 1)})
            key_tables.append(table)
        can_close = tuple(not any(must[i:]) for i in range(len(names) + 1))
        return self._add(("obj", values, tuple(key_tables), can_close))

    def _merge(self, tables: list[int], path: str) -> int:
        """One table for alternatives; those sharing a first byte must all be literals or all numbers."""
        if len(tables) == 1:
            return tables[0]
        merged = [-1] * 256
        for b in range(256):
            leaves = frozenset(self._tables[t][b] for t in tables) - {-1}
            if len(leaves) == 1:
                merged[b] = next(iter(leaves))
            elif leaves:
                kinds = {self._leaves[leaf][0] for leaf in leaves}
                if kinds not in ({"lit"}, {"num"}):
                    raise ConfigError(f"{path}: alternatives that both start with {chr(b)!r} are not supported")
                if leaves not in self._merged:
                    if kinds == {"lit"}:
                        self._merged[leaves] = self._literals(set().union(*(self._leaves[x][2] for x in leaves)))
                    else:
                        self._merged[leaves] = self._add(("num", all(self._leaves[x][1] for x in leaves)))
                merged[b] = self._merged[leaves]
        self._tables.append(tuple(merged))
        return len(self._tables) - 1
