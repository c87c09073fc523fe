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
  per state, so a machine's states must be hashable.

:class:`ChoiceMachine` is the ready-made machine: the output must be exactly one
of a list of strings.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Protocol, runtime_checkable

import torch

from indexes.errors import ConfigError


@runtime_checkable
class ByteMachine(Protocol):
    """A deterministic automaton over output bytes."""

    def initial(self) -> Hashable:
        """The state before any output."""

    def step(self, state: Hashable, byte: int) -> Hashable | None:
        """The state after ``byte`` (0..255), or None if the byte is not allowed here."""

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

    Args:
        machine: the byte automaton.
        token_bytes: the bytes of every token id (b"" for control tokens, which are never allowed).
        eos_ids: end-of-sequence ids, allowed exactly in accepting states.
    """

    def __init__(self, machine: ByteMachine, token_bytes: Sequence[bytes], eos_ids: Iterable[int]) -> None:
        if not isinstance(machine, ByteMachine):
            raise ConfigError(f"{type(machine).__name__} is not a ByteMachine (needs initial, step and accepting)")
        self.machine = machine
        self.token_bytes = token_bytes
        self.eos_ids = sorted(set(eos_ids))
        self.vocab_size = len(token_bytes)
        self._by_first: dict[int, list[int]] = {}
        for token_id, data in enumerate(token_bytes):
            if data:
                self._by_first.setdefault(data[0], []).append(token_id)
        self._masks: dict[Hashable, torch.Tensor] = {}

    def initial(self) -> Hashable:
        return self.machine.initial()

    def _walk(self, state: Hashable, data: bytes) -> Hashable | None:
        for byte in data:
            state = self.machine.step(state, byte)
            if state is None:
                return None
        return state

    def allowed(self, state: Hashable) -> torch.Tensor:
        """bool (vocab,): which token ids may come next."""
        mask = self._masks.get(state)
        if mask is None:
            mask = torch.zeros(self.vocab_size, dtype=torch.bool)
            for first, ids in self._by_first.items():
                after_first = self.machine.step(state, first)
                if after_first is None:
                    continue
                for token_id in ids:
                    if self._walk(after_first, self.token_bytes[token_id][1:]) is not None:
                        mask[token_id] = True
            if self.machine.accepting(state):
                mask[self.eos_ids] = True
            self._masks[state] = mask
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
