"""The pushdown automaton of :class:`JsonMachine` (see the package docstring for the rules it enforces)."""

from __future__ import annotations

from collections.abc import Hashable

from rag.model.json_machine.schema import SchemaCompiler

# Container phases: after the opening bracket, after "," (a space may come), after that space,
# inside a declared key, after a key, after a value.
_K0, _KS, _K, _KEY, _COLON, _AFTER = range(6)
# Number phases (JSON grammar); a number ends when the next byte cannot continue it.
_SIGN, _ZERO, _INT, _DOT, _FRAC, _E, _ESIGN, _EXP = range(8)
_NUM_DONE = frozenset({_ZERO, _INT, _FRAC, _EXP})
_NUM_NEXT: dict[tuple[int, int], int] = {}
for _d in b"0123456789":
    _NUM_NEXT.update({(_SIGN, _d): _ZERO if _d == 0x30 else _INT, (_INT, _d): _INT, (_DOT, _d): _FRAC})
    _NUM_NEXT.update({(_FRAC, _d): _FRAC, (_E, _d): _EXP, (_ESIGN, _d): _EXP, (_EXP, _d): _EXP})
for _p in (_ZERO, _INT, _FRAC):
    _NUM_NEXT.update({(_p, 0x65): _E, (_p, 0x45): _E})
_NUM_NEXT.update({(_ZERO, 0x2E): _DOT, (_INT, 0x2E): _DOT, (_E, 0x2B): _ESIGN, (_E, 0x2D): _ESIGN})
# String modes after the first byte of an escape or multi-byte character: mode -> {byte: next mode, or _DONE
# when the character is complete}. \uXXXX outside D800-DFFF, or a high surrogate \uD800-\uDBFF with a low one
# \uDC00-\uDFFF (one character, as json.dumps writes astral characters); raw UTF-8 must be valid.
_DONE, _NORMAL = -1, 0
_BSL, _U1, _U2, _U3, _U4, _UD, _H3, _H4, _L0, _L1, _L2, _L3, _L4, _L5 = range(1, 15)
_C1, _C2, _E0, _ED, _F0, _C3, _F4 = range(15, 22)
_HEX = b"0123456789abcdefABCDEF"


def _to(data: bytes | range, nxt: int) -> dict[int, int]:
    return dict.fromkeys(data, nxt)


_STRING_NEXT = {
    _BSL: {**_to(b'"\\/bfnrt', _DONE), 0x75: _U1},
    _U1: {**_to(_HEX, _U2), **_to(b"dD", _UD)},
    _U2: _to(_HEX, _U3),
    _U3: _to(_HEX, _U4),
    _U4: _to(_HEX, _DONE),
    _UD: {**_to(b"01234567", _U3), **_to(b"89abAB", _H3)},
    _H3: _to(_HEX, _H4),
    _H4: _to(_HEX, _L0),
    _L0: {0x5C: _L1},
    _L1: {0x75: _L2},
    _L2: _to(b"dD", _L3),
    _L3: _to(b"cdefCDEF", _L4),
    _L4: _to(_HEX, _L5),
    _L5: _to(_HEX, _DONE),
    _C1: _to(range(0x80, 0xC0), _DONE),
    _C2: _to(range(0x80, 0xC0), _C1),
    _E0: _to(range(0xA0, 0xC0), _C1),
    _ED: _to(range(0x80, 0xA0), _C1),
    _F0: _to(range(0x90, 0xC0), _C2),
    _C3: _to(range(0x80, 0xC0), _C2),
    _F4: _to(range(0x80, 0x90), _C2),
}
_STRING_START = {0x5C: _BSL, **_to(range(0xC2, 0xE0), _C1), **_to(range(0xE1, 0xF0), _C2), 0xE0: _E0, 0xED: _ED}
_STRING_START.update({0xF0: _F0, **_to(range(0xF1, 0xF4), _C3), 0xF4: _F4})


class JsonMachine(SchemaCompiler):
    """Accepts exactly one JSON value conforming to ``schema`` (None or ``{}``: any JSON value).

    Raises:
        ConfigError: the schema uses a keyword this machine does not implement, or cannot be satisfied.
    """

    def __init__(self, schema: dict | bool | None = None) -> None:
        super().__init__()
        self.schema = schema  # as given: what a model server's JSON-schema response format is sent instead
        self._handlers = {"V": self._value, "L": self._in_literal, "N": self._in_number, "S": self._in_string}
        self._handlers.update({"A": self._in_array, "M": self._in_map, "O": self._in_object})
        self._key_leaf = self._add(("str", 0, -1, 0))
        self._root = self._compile(True if schema is None else schema, "#")

    # -- the automaton -----------------------------------------------------------
    def initial(self) -> Hashable:
        return (("V", self._root, 0),)

    def step(self, state: tuple, byte: int) -> tuple | None:
        while state:
            result = self._handlers[state[-1][0]](state[-1], byte)
            if result is None:
                return None
            frames, consumed = result
            state = state[:-1] + frames
            if consumed:
                return state
        return None  # nothing may follow the value

    def accepting(self, state: tuple) -> bool:
        if not state:
            return True
        if len(state) > 1:
            return False
        top = state[0]
        return (top[0] == "N" and top[2] in _NUM_DONE) or (top[0] == "L" and top[2] in self._leaves[top[1]][2])

    def _value(self, frame: tuple, b: int) -> tuple | None:
        """A value is expected."""
        if b == 0x20 and frame[2]:
            return (("V", frame[1], 0),), True
        leaf = self._tables[frame[1]][b]
        if leaf < 0:
            return None
        kind = self._leaves[leaf][0]
        if kind == "str":
            return (("S", leaf, 0, _NORMAL),), True
        if kind == "num":
            return (("N", leaf, _SIGN if b == 0x2D else _ZERO if b == 0x30 else _INT),), True
        if kind == "arr":
            return (("A", leaf, 0, _K0),), True
        if kind == "obj":
            return (("O", leaf, _K0, 0, b""),), True
        if kind == "map":
            return (("M", leaf, _K0),), True
        return self._literal(leaf, bytes((b,))), True

    def _literal(self, leaf: int, prefix: bytes) -> tuple:
        _, _, complete, extendable = self._leaves[leaf]
        return () if prefix in complete and prefix not in extendable else (("L", leaf, prefix),)

    def _in_literal(self, frame: tuple, b: int) -> tuple | None:
        """Inside an enum/const literal."""
        _, leaf, prefix = frame
        nxt = prefix + bytes((b,))
        if nxt in self._leaves[leaf][1]:
            return self._literal(leaf, nxt), True
        return ((), False) if prefix in self._leaves[leaf][2] else None

    def _in_number(self, frame: tuple, b: int) -> tuple | None:
        """Inside a number."""
        _, leaf, phase = frame
        nxt = _NUM_NEXT.get((phase, b))
        if nxt is not None and not (self._leaves[leaf][1] and nxt in (_DOT, _E)):
            return (("N", leaf, nxt),), True
        return ((), False) if phase in _NUM_DONE else None

    def _in_string(self, frame: tuple, b: int) -> tuple | None:
        """Inside a string."""
        _, leaf, count, mode = frame
        _, lo, hi, cap = self._leaves[leaf]
        if mode == _NORMAL:
            if b == 0x22:
                return ((), True) if count >= lo else None
            if 0 <= hi <= count or b < 0x20:
                return None
            if b < 0x80 and b != 0x5C:
                return (("S", leaf, min(count + 1, cap), _NORMAL),), True
            mode = _STRING_START.get(b)
            return None if mode is None else ((("S", leaf, count, mode),), True)
        mode = _STRING_NEXT[mode].get(b)
        if mode is None:
            return None
        return (("S", leaf, min(count + 1, cap) if mode == _DONE else count, max(mode, _NORMAL)),), True

    def _in_array(self, frame: tuple, b: int) -> tuple | None:
        """Inside an array."""
        _, leaf, count, phase = frame
        _, item, lo, hi, cap = self._leaves[leaf]
        if phase == _AFTER:
            if b == 0x2C:
                return ((("A", leaf, count, _KS),), True) if hi < 0 or count < hi else None
            return ((), True) if b == 0x5D and count >= lo else None
        if phase == _K0 and b == 0x5D:
            return ((), True) if lo == 0 else None
        if phase == _KS and b == 0x20:
            return (("A", leaf, count, _K),), True
        if 0 <= hi <= count:
            return None
        return (("A", leaf, min(count + 1, cap), _AFTER), ("V", item, 0)), False

    def _in_map(self, frame: tuple, b: int) -> tuple | None:
        """Inside an object with free keys."""
        _, leaf, phase = frame
        if phase == _COLON:
            return ((("M", leaf, _AFTER), ("V", self._leaves[leaf][1], 1)), True) if b == 0x3A else None
        if phase == _AFTER:
            return ((("M", leaf, _KS),), True) if b == 0x2C else ((), True) if b == 0x7D else None
        if phase == _K0 and b == 0x7D:
            return (), True
        if phase == _KS and b == 0x20:
            return (("M", leaf, _K),), True
        return ((("M", leaf, _COLON), ("S", self._key_leaf, 0, _NORMAL)), True) if b == 0x22 else None

    def _in_object(self, frame: tuple, b: int) -> tuple | None:
        """Inside an object with declared keys."""
        _, leaf, phase, idx, prefix = frame
        _, values, key_tables, can_close = self._leaves[leaf]
        if phase == _COLON:
            return ((("O", leaf, _AFTER, idx, b""), ("V", values[idx - 1], 1)), True) if b == 0x3A else None
        if phase == _AFTER:
            if b == 0x2C:
                return ((("O", leaf, _KS, idx, b""),), True) if idx < len(values) else None
            return ((), True) if b == 0x7D and can_close[idx] else None
        if phase == _K0 and b == 0x7D:
            return ((), True) if can_close[0] else None
        if phase == _KS and b == 0x20:
            return (("O", leaf, _K, idx, b""),), True
        nxt = prefix + bytes((b,))
        j = key_tables[idx].get(nxt)
        if j is None:
            return None
        return ((("O", leaf, _KEY, idx, nxt),) if j < 0 else (("O", leaf, _COLON, j + 1, b""),)), True
