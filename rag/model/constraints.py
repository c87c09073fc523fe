"""Constrained decoding: only tokens a caller-given state machine allows may be sampled.

Two levels, so that grammars are written once over bytes and work with any
vocabulary:

* :class:`ByteMachine` (protocol): an automaton over the UTF-8 bytes of the
  output. ``step`` returns the next state or None when a byte is not allowed;
  ``accepting`` says whether the output may end here. A JSON-schema tool-call
  grammar is a ``ByteMachine`` whose state is a hashable stack.
* :class:`TokenConstraint`: lifts a ``ByteMachine`` to token ids. A token is
  allowed when the machine accepts every byte of it in turn; the end-of-sequence
  token is allowed exactly when the machine is accepting. Masks are memoised
  per state (and machine steps per state and byte), so a machine's states must
  be hashable.

:class:`ChoiceMachine` is the ready-made machine: the output must be exactly one
of a list of strings; :class:`rag.model.json_machine.JsonMachine` accepts JSON
conforming to a JSON-Schema subset.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from core.errors import ConfigError


@runtime_checkable
class ByteMachine(Protocol):
    """A deterministic automaton over output bytes."""

    def initial(self) -> Hashable:
        """The state before any output."""

    def step(self, state: Hashable, byte: int) -> Hashable | None:
        """The state after ``byte`` (0..255), or None if the byte is not allowed here.

        Must depend on ``state`` and ``byte`` only: :class:`TokenConstraint` memoises it.
        """

    def accepting(self, state: Hashable) -> bool:
        """Whether the output may end in ``state``."""


class ChoiceMachine:
    """The output is exactly one of ``choices`` (e.g. labels, tool names, yes/no)."""

    def __init__(self, choices: Iterable[str]) -> None:
        self.choices = tuple(dict.fromkeys(choices))
        if not self.choices or any(not c for c in self.choices):
            raise ConfigError("ChoiceMachine needs at least one choice and no empty strings")
        encoded = [c.encode("utf-8") for c in self.choices]
        self._complete = set(encoded)
        self._prefixes = {c[:i] for c in encoded for i in range(len(c) + 1)}

    def initial(self) -> bytes:
        return b""

    def step(self, state: bytes, byte: int) -> bytes | None:
        nxt = state + bytes((byte,))
        return nxt if nxt in self._prefixes else None

    def accepting(self, state: bytes) -> bool:
        return state in self._complete


class TokenConstraint:
    """The token-level view of a :class:`ByteMachine` for one vocabulary.

    A mask is computed by walking all tokens through the machine at once, one
    byte position at a time (numpy over the vocabulary, tokens sorted longest
    first so that the tokens still running at position ``d`` are a prefix of
    the order). Machine steps are memoised in a transition table indexed by
    (state id, byte), so a step is taken in Python once per distinct pair, not
    once per token: inside a JSON string nearly every token is allowed, and a
    per-token Python walk of a 49k vocabulary took about 250 ms per state.
    Masks are memoised per state in an LRU of ``cache_size`` entries, and the
    transition table is dropped when it holds ``max_states`` states, so a long
    run over a machine with unboundedly many states stays bounded in memory.

    Args:
        machine: the byte automaton.
        token_bytes: the bytes of every token id (b"" for control tokens, which are never allowed).
        eos_ids: end-of-sequence ids, allowed exactly in accepting states.
        cache_size: how many state masks to keep.
        max_states: how many machine states the transition table may hold before it is rebuilt.
    """

    def __init__(
        self,
        machine: ByteMachine,
        token_bytes: Sequence[bytes],
        eos_ids: Iterable[int],
        *,
        cache_size: int = 4096,
        max_states: int = 16384,
    ) -> None:
        if not isinstance(machine, ByteMachine):
            raise ConfigError(f"{type(machine).__name__} is not a ByteMachine (needs initial, step and accepting)")
        if cache_size < 1 or max_states < 2:
            raise ConfigError(f"cache_size must be >= 1 and max_states >= 2, got {cache_size}, {max_states}")
        self.machine = machine
        self.token_bytes = token_bytes
        self.eos_ids = sorted(set(eos_ids))
        self.vocab_size = len(token_bytes)
        self.cache_size, self.max_states = cache_size, max_states
        lengths = np.fromiter((len(t) for t in token_bytes), dtype=np.int64, count=self.vocab_size)
        order = np.argsort(-lengths, kind="stable")
        order = order[lengths[order] > 0]  # control tokens never match
        self._order = torch.from_numpy(order)
        sorted_lengths = lengths[order]
        depth = int(sorted_lengths[0]) if len(order) else 0
        # _active[d]: how many tokens (in sorted order) have a byte at position d; _bytes[d, i]: that byte.
        self._active = [int(n) for n in np.searchsorted(-sorted_lengths, -np.arange(depth), side="left")]
        self._bytes = np.zeros((depth, len(order)), dtype=np.uint8)
        if len(order):
            flat = np.frombuffer(b"".join(token_bytes[i] for i in order), dtype=np.uint8)
            rank = np.repeat(np.arange(len(order)), sorted_lengths)
            starts = np.repeat(np.cumsum(sorted_lengths) - sorted_lengths, sorted_lengths)
            self._bytes[np.arange(len(flat)) - starts, rank] = flat
        self._masks: OrderedDict[Hashable, torch.Tensor] = OrderedDict()
        self._reset_states()

    def _reset_states(self) -> None:
        """Forget the transition table; id 0 is the dead state (a rejected byte), which every byte keeps."""
        self._states: list[Hashable] = [None]
        self._ids: dict[Hashable, int] = {}
        self._next = np.full((64, 256), -1, dtype=np.int32)  # -1: not stepped yet
        self._next[0] = 0

    def _id(self, state: Hashable | None) -> int:
        if state is None:
            return 0
        sid = self._ids.get(state)
        if sid is None:
            sid = self._ids[state] = len(self._states)
            self._states.append(state)
            if sid >= len(self._next):
                grown = np.full((2 * len(self._next), 256), -1, dtype=np.int32)
                grown[: len(self._next)] = self._next
                self._next = grown
        return sid

    def initial(self) -> Hashable:
        return self.machine.initial()

    def _walk(self, state: Hashable, data: bytes) -> Hashable | None:
        for byte in data:
            state = self.machine.step(state, byte)
            if state is None:
                return None
        return state

    def _compute(self, state: Hashable) -> torch.Tensor:
        if len(self._states) > self.max_states:
            self._reset_states()
        ids = np.full(len(self._order), self._id(state), dtype=np.int32)
        for d, n in enumerate(self._active):
            cur, col = ids[:n], self._bytes[d, :n]
            nxt = self._next.reshape(-1)[cur * 256 + col]
            unknown = nxt < 0
            if unknown.any():
                for pair in np.unique(cur[unknown] * 256 + col[unknown]).tolist():
                    sid, byte = divmod(pair, 256)
                    target = self._id(self.machine.step(self._states[sid], byte))  # may grow the table
                    self._next[sid, byte] = target
                nxt = self._next.reshape(-1)[cur * 256 + col]
            ids[:n] = nxt
            if not ids.any():
                break
        mask = torch.zeros(self.vocab_size, dtype=torch.bool)
        mask[self._order] = torch.from_numpy(ids > 0)
        if self.machine.accepting(state):
            mask[self.eos_ids] = True
        return mask

    def allowed(self, state: Hashable) -> torch.Tensor:
        """bool (vocab,): which token ids may come next (a token is allowed when the machine takes all its bytes)."""
        mask = self._masks.get(state)
        if mask is None:
            mask = self._masks[state] = self._compute(state)
            if len(self._masks) > self.cache_size:
                self._masks.popitem(last=False)
        else:
            self._masks.move_to_end(state)
        return mask

    def advance(self, state: Hashable, token_id: int) -> Hashable:
        """The state after ``token_id``; raises if the token was not allowed."""
        if token_id in self.eos_ids:
            return state
        nxt = self._walk(state, self.token_bytes[token_id])
        if nxt is None:
            raise ConfigError(f"token {token_id} is not allowed by the constraint in this state")
        return nxt

    def accepting(self, state: Hashable) -> bool:
        return self.machine.accepting(state)

    def must_stop(self, state: Hashable) -> bool:
        """True when the output is complete and nothing may follow (only end-of-sequence is allowed)."""
        mask = self.allowed(state)
        return self.accepting(state) and int(mask.sum()) == len(self.eos_ids)
