"""JsonMachine accepts exactly the JSON its schema subset allows, and TokenConstraint's fast masks are exact."""

from __future__ import annotations

import json
import random

import pytest
import torch

from core.errors import ConfigError
from rag.generate.base import ChatMessage, GenerationConfig
from rag.model.constraints import ChoiceMachine, TokenConstraint
from rag.model.json_machine import JsonMachine

TOOL = {
    "type": "object",
    "properties": {"tool": {"enum": ["search", "calculator"]}, "query": {"type": "string", "maxLength": 40}},
    "required": ["tool", "query"],
}
RECORD = {
    "type": "object",
    "description": "descriptive keywords are ignored",
    "properties": {
        "a": {"type": "integer", "title": "A"},
        "b": {"type": "array", "items": {"type": "number"}, "minItems": 1, "maxItems": 3},
        "c": {"type": "boolean"},
        "d": {"type": "null"},
    },
    "required": ["b"],
}
MIXED = {"type": "array", "items": {"anyOf": [{"type": "string", "minLength": 2, "maxLength": 5}, {"type": "null"}]}}
LITERALS = {"enum": [{"a": 1}, [1, 2], "s", None, 3.5, 35, 1, 10, 100, True]}
MAP = {"type": "object", "additionalProperties": {"type": ["integer", "string"]}}


def run(machine: JsonMachine, text: str | bytes) -> bool:
    """Whether the machine takes every byte and may stop after the last one."""
    state = machine.initial()
    for byte in text.encode() if isinstance(text, str) else text:
        state = machine.step(state, byte)
        if state is None:
            return False
    return machine.accepting(state)


def canon(value: object) -> str:
    return json.dumps(value, sort_keys=True)


def is_type(kind: str, value: object) -> bool:
    if isinstance(value, bool):
        return kind == "boolean"
    checks = {"object": dict, "array": list, "string": str, "integer": int, "number": (int, float), "null": type(None)}
    return isinstance(value, checks[kind])


def conforms(schema: dict | bool, value: object) -> bool:
    """JSON Schema validation for the subset JsonMachine implements (standard semantics, not the machine's)."""
    if isinstance(schema, bool):
        return schema
    if "enum" in schema and canon(value) not in {canon(v) for v in schema["enum"]}:
        return False
    if "const" in schema and canon(value) != canon(schema["const"]):
        return False
    if "anyOf" in schema and not any(conforms(s, value) for s in schema["anyOf"]):
        return False
    types = schema.get("type")
    if types is not None and not any(is_type(t, value) for t in ([types] if isinstance(types, str) else types)):
        return False
    if isinstance(value, dict):
        props = schema.get("properties", {})
        if any(k not in value for k in schema.get("required", [])):
            return False
        return all(conforms(props.get(k, schema.get("additionalProperties", True)), v) for k, v in value.items())
    if isinstance(value, list):
        n = len(value)
        if n < schema.get("minItems", 0) or n > schema.get("maxItems", n):
            return False
        return all(conforms(schema.get("items", True), v) for v in value)
    if isinstance(value, str):
        return schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value))
    return True


CASES = [
    (
        None,
        ['{}', '[]', '""', '0', '-0', '-12.5e+3', '1E9', 'true', 'false', 'null', '"h\u00e9 \U0001f914"',
         '{"a": [1, {"b": null}], "c":"\\u00e9\\n\\"\\\\\\/"}', '[[], {}, [""]]', '"\\ud7ff"',
         '"\\ud83e\\udd14\\uDBFF\\uDFFF\\ue000"'],
        ['', ' {}', '{} ', '{ }', '[1,]', '{"a":1,}', '01', '1.', '.5', '1e', '+1', 'tru', 'nul', '"a', "'a'",
         '"\\ud800"', '"\\x"', '"\\u12"', '"\\u00eZ"', '"\\uZ000"', '"\\U0041"', '"\\udc00"', '"\\ud83e\\u0041"',
         '"\\ud83ex"', '"\\ud83e"', '"a\nb"', '{"a"  :1}', '{"a":  1}', '[1,  2]', '{a:1}', 'NaN', '[1]\n', '{"a":1}}'],
    ),
    (
        TOOL,
        ['{"tool": "search", "query": "who wrote Dune"}', '{"tool":"calculator","query":""}',
         '{"tool": "search", "query": "' + "x" * 40 + '"}', '{"tool": "search", "query": "\\u00e9\\n"}'],
        ['{"query": "x", "tool": "search"}', '{"tool": "search"}', '{"tool": "web", "query": "x"}',
         '{"tool": "search", "query": "' + "x" * 41 + '"}', '{"tool": "search", "query": "x", "extra": 1}',
         '{"tool": "search", "query": 3}', '{"tool": "Search", "query": "x"}', '{}'],
    ),
    (
        RECORD,
        ['{"b": [1]}', '{"a": 5, "b": [1, 2.5, -3e2]}', '{"a": -1, "b": [0], "c": true, "d": null}',
         '{"b": [1], "d": null}'],
        ['{}', '{"a": 5}', '{"b": []}', '{"b": [1, 2, 3, 4]}', '{"a": 1.5, "b": [1]}', '{"b": [1], "a": 5}',
         '{"b": [1], "b": [2]}', '{"b": ["1"]}', '{"b": [1], "c": 1}', '{"b": [1], "d": false}'],
    ),
    (
        MIXED,
        ['[]', '["ab", null, "abcde"]', '["\\u00e9\\u00e9"]', '[null]'],
        ['["a"]', '["abcdef"]', '[1]', '[true]', '[nul]'],
    ),
    (
        LITERALS,
        ['{"a":1}', '[1,2]', '"s"', 'null', '3.5', '35', '1', '10', '100', 'true'],
        ['{"a": 1}', '[1, 2]', '"t"', '3', '1000', '11', 'false', '3.50', '0'],
    ),
    (
        MAP,
        ['{}', '{"x": 1, "y": "z", "x": -2}', '{"": ""}'],
        ['{"x": 1.5}', '{"x": null}', '{"x"}', '{1: 1}'],
    ),
    ({"type": "object", "additionalProperties": False}, ['{}'], ['{"a": 1}', '[]']),
    ({"type": "object", "properties": {}}, ['{}'], ['{"a": 1}']),
    ({"type": ["string", "null"], "maxLength": 2}, ['"ab"', 'null', '""'], ['"abc"', '1', 'true']),
    ({"type": "integer"}, ['0', '-7', '123'], ['1.0', '1e3', '-', '007', '"1"']),
    ({"type": "number"}, ['0.5', '-0.0', '2E-7', '12'], ['0.', '-', '1e+', '0x1']),
    ({"type": "boolean"}, ['true', 'false'], ['null', '1', 'True']),
    ({"type": "null"}, ['null'], ['nil', 'false']),
    ({"const": "fixed"}, ['"fixed"'], ['"fix"', '"fixed2"']),
    ({"type": "string", "maxLength": 1}, ['"\\ud83e\\udd14"', '"\U0001f914"', '"\\n"'], ['"ab"', '"\\u00e9a"']),
    ({"type": "string", "enum": ["a", "bb", 3], "maxLength": 1}, ['"a"'], ['"bb"', '3']),
    ({"type": "array", "maxItems": 0}, ['[]'], ['[1]']),
    ({"anyOf": [{"type": "integer"}, {"type": "number"}, {"enum": [True]}]}, ['1.5', '2', 'true'], ['false']),
    (
        {"type": "string", "minLength": 2},
        ['"ab"', '"\U0001f914\u00e9"', '"\\n\\t"'],
        ['""', '"a"', '"\\u00e9"', '"\\ud83e\\udd14"'],
    ),
]  # fmt: skip


@pytest.mark.parametrize("schema,valid,invalid", CASES, ids=[f"schema{i}" for i in range(len(CASES))])
def test_accepts_exactly_the_conforming_texts(schema, valid, invalid):
    machine = JsonMachine(schema)
    for text in valid:
        assert run(machine, text), text
        assert conforms(schema if schema is not None else True, json.loads(text)), text
    for text in invalid:
        assert not run(machine, text), text


def test_raw_bytes_must_be_valid_utf8():
    machine = JsonMachine({"type": "string"})
    assert run(machine, '"\u00e9\u20ac\U0001f914"'.encode())
    for bad in (b'"\xc3"', b'"\xc0\x80"', b'"\xed\xa0\x80"', b'"\xf4\x90\x80\x80"', b'"\xe2\x82"', b'"\xff"'):
        assert not run(machine, bad), bad


def test_max_length_forces_the_string_to_close():
    machine = JsonMachine(TOOL)
    state = machine.initial()
    for byte in ('{"tool": "search", "query": "' + "\\u00e9" * 38 + "\\ud83e\\udd14y").encode():
        state = machine.step(state, byte)
    assert [b for b in range(256) if machine.step(state, b) is not None] == [ord('"')]
    state = machine.step(state, ord('"'))
    assert [b for b in range(256) if machine.step(state, b) is not None] == [ord("}")]
    assert machine.accepting(machine.step(state, ord("}")))


@pytest.mark.parametrize(
    "schema,keyword",
    [
        ({"type": "string", "pattern": "^a"}, "pattern"),
        ({"type": "integer", "minimum": 0}, "minimum"),
        ({"type": "string", "format": "date"}, "format"),
        ({"oneOf": [{"type": "string"}]}, "oneOf"),
        ({"$ref": "#/defs/x"}, "$ref"),
        ({"type": "array", "uniqueItems": True}, "uniqueItems"),
        ({"type": "object", "properties": {"a": {"type": "string", "maxItems": 1, "multipleOf": 2}}}, "multipleOf"),
        ({"type": "object", "required": ["a"]}, "required"),
        ({"type": "object", "properties": {"a": {}}, "required": ["b"]}, "'b'"),
        ({"type": "object", "properties": {"a": {}}, "additionalProperties": True}, "additionalProperties"),
        ({"type": "strin"}, "type"),
        ({"type": "string", "minLength": 3, "maxLength": 2}, "minLength"),
        ({"type": "string", "maxLength": -1}, "maxLength"),
        ({"type": "integer", "enum": ["a"]}, "enum"),
        ({"type": "array", "items": [{"type": "string"}]}, "items"),
        ({"anyOf": [{"type": "string"}, {"enum": ["a"]}]}, "alternatives"),
        ({"anyOf": [{"type": "string"}], "type": "string"}, "'type'"),
        ({"minLength": 1, "minItems": 1}, "type"),
        ({"enum": [float("nan")]}, "JSON"),
        (False, "schema"),
    ],
)
def test_unsupported_or_impossible_schemas_raise(schema, keyword):
    with pytest.raises(ConfigError, match=keyword.replace("$", r"\$")):
        JsonMachine(schema)


def depth(state: tuple | None) -> int:
    return len(state) if state is not None else 1 << 30


def random_walk(machine: JsonMachine, rng: random.Random, wander: int = 40, limit: int = 400) -> tuple[bytes, bool]:
    """Random allowed bytes; after ``wander`` bytes, only those that close the innermost value, and stop when done."""
    state, out = machine.initial(), bytearray()
    for i in range(limit):
        if machine.accepting(state) and (i >= wander or rng.random() < 0.1):
            return bytes(out), True
        options = [(b, s) for b in range(256) if (s := machine.step(state, b)) is not None]
        if not options:
            return bytes(out), machine.accepting(state)
        if i >= wander:
            least = min(depth(s) for _, s in options)
            options = [(b, s) for b, s in options if depth(s) == least]
        weights = [8 if b in b'{["\\,' else 1 for b, _ in options]  # reach nesting, escapes and longer containers
        byte, state = rng.choices(options, weights)[0]
        out.append(byte)
    return bytes(out), False


def declared_order(schema: dict | bool, value: object) -> bool:
    """Objects with declared properties list their keys in declared order."""
    if isinstance(schema, dict) and isinstance(value, dict) and "properties" in schema:
        order = list(schema["properties"])
        positions = [order.index(k) for k in value]
        if positions != sorted(positions):
            return False
        return all(declared_order(schema["properties"][k], v) for k, v in value.items())
    return True


@pytest.mark.parametrize(
    "schema",
    [None, TOOL, RECORD, MIXED, LITERALS, MAP, {"type": "string", "maxLength": 3}, {"type": "number"}],
    ids=["any", "tool", "record", "mixed", "literals", "map", "short-string", "number"],
)
def test_random_walks_only_produce_conforming_json(schema):
    machine, rng = JsonMachine(schema), random.Random(1234)
    for _ in range(20):
        data, done = random_walk(machine, rng)
        assert done, f"walk stuck or too long: {data!r}"
        value = json.loads(data.decode("utf-8"))
        assert conforms(schema if schema is not None else True, value), data
        assert declared_order(schema if schema is not None else True, value), data


def brute_force_mask(machine, token_bytes, eos_ids, state) -> torch.Tensor:
    """Walk every token through the machine on its own (machine steps memoised, to keep the test fast)."""
    memo: dict = {}
    mask = torch.zeros(len(token_bytes), dtype=torch.bool)
    for token_id, data in enumerate(token_bytes):
        s = state
        for byte in data:
            key = (s, byte)
            if key not in memo:
                memo[key] = machine.step(s, byte)
            s = memo[key]
            if s is None:
                break
        mask[token_id] = bool(data) and s is not None
    if machine.accepting(state):
        mask[eos_ids] = True
    return mask


def states_along(machine, text: str, every: int = 1) -> list:
    state, states = machine.initial(), [machine.initial()]
    for i, byte in enumerate(text.encode()):
        state = machine.step(state, byte)
        assert state is not None, text[: i + 1]
        if i % every == 0:
            states.append(state)
    return states


def test_fast_masks_equal_brute_force_masks(tokenizer):
    tb, eos = tokenizer.token_bytes, [tokenizer.eos_id]
    texts = [
        (TOOL, '{"tool": "calculator", "query": "2+2 \\u00e9 ok"}', 4),
        (None, '{"a": [1.5e3, -0, "\u00e9\\n\\ud83e\\udd14", {"b": true}], "c": null}', 5),
        (RECORD, '{"a": 12, "b": [1', 5),
    ]
    cases = [(JsonMachine(schema), states_along(JsonMachine(schema), text, every)) for schema, text, every in texts]
    cases.append((ChoiceMachine(["yes", "no", "not sure"]), [b"", b"n", b"no"]))
    for machine, states in cases:
        fast = TokenConstraint(machine, tb, eos)
        tiny = TokenConstraint(machine, tb, eos, cache_size=1, max_states=2)  # evicts and rebuilds all the time
        for state in states:
            expected = brute_force_mask(machine, tb, eos, state)
            assert torch.equal(fast.allowed(state), expected), state
            assert torch.equal(tiny.allowed(state), expected), state
        assert len(tiny._masks) == 1


def test_token_masks_force_closing_at_max_length(tokenizer):
    machine = JsonMachine(TOOL)
    c = TokenConstraint(machine, tokenizer.token_bytes, [tokenizer.eos_id])
    state = states_along(machine, '{"tool": "search", "query": "' + "a" * 40)[-1]
    allowed = [tokenizer.token_bytes[i] for i in torch.nonzero(c.allowed(state)).flatten().tolist()]
    assert allowed and all(t.startswith(b'"') for t in allowed)
    assert b'"}' in allowed or b'"' in allowed


def test_generates_a_conforming_tool_call(torch_generator):
    # Every token has at least one byte, so max_tokens at least the longest accepted output guarantees
    # that the constraint, not the token limit, ends generation: at maxLength only the closing quote is
    # allowed, and an escaped surrogate pair (12 bytes) is the longest spelling of one character.
    longest = len('{"tool": "calculator", "query": "') + 12 * TOOL["properties"]["query"]["maxLength"] + len('"}')
    messages = [
        ChatMessage(
            "system", 'You call tools. Reply only with JSON: {"tool": "search" or "calculator", "query": "..."}'
        ),
        ChatMessage("user", "What is 17 times 23? Use the calculator."),
    ]
    result = torch_generator.generate(messages, GenerationConfig(max_tokens=longest), constraint=JsonMachine(TOOL))
    value = json.loads(result.text)
    assert conforms(TOOL, value), result.text
    assert result.finish_reason == "stop" and result.generated_tokens <= longest
