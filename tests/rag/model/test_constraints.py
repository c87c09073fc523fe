"""Constrained decoding only ever yields strings the state machine accepts."""

from __future__ import annotations

import pytest
import torch

from core.errors import ConfigError
from rag.generate.base import GenerationConfig
from rag.model.constraints import ChoiceMachine, TokenConstraint
from rag.model.generation import Decoder

CHOICES = ["positive", "negative", "neutral", "not sure 🤔"]


def test_choice_machine_steps():
    m = ChoiceMachine(["yes", "yellow"])
    s = m.initial()
    for byte in b"ye":
        s = m.step(s, byte)
    assert s is not None and not m.accepting(s)
    assert m.step(s, ord("x")) is None
    assert m.accepting(m.step(s, ord("s")))
    with pytest.raises(ConfigError):
        ChoiceMachine([])


def test_token_masks_allow_exactly_the_viable_tokens(tokenizer):
    c = TokenConstraint(ChoiceMachine(["yes", "no"]), tokenizer.token_bytes, [tokenizer.eos_id])
    mask = c.allowed(c.initial())
    allowed = {tokenizer.token_bytes[i] for i in torch.nonzero(mask).flatten().tolist()}
    assert allowed and all(b"yes".startswith(a) or b"no".startswith(a) for a in allowed)
    assert not mask[tokenizer.eos_id]
    done = c.advance(c.initial(), tokenizer.encode("yes")[0])
    assert c.accepting(done) and c.must_stop(done)
    with pytest.raises(ConfigError):
        c.advance(c.initial(), tokenizer.encode("maybe")[0])


def test_constrained_generation_only_yields_accepted_strings(load):
    model, tok = load("int4")
    decoder = Decoder(model, tok)
    constraint = TokenConstraint(ChoiceMachine(CHOICES), tok.token_bytes, [tok.eos_id])
    prompt = tok.encode(tok.apply_chat_template([{"role": "user", "content": "Classify: I loved this film!"}]))
    outputs = set()
    for seed in range(6):
        config = GenerationConfig(max_tokens=20, temperature=1.5, seed=seed)
        outputs.add("".join(decoder.stream(prompt, config, constraint=constraint)))
    assert outputs <= set(CHOICES), outputs
    greedy = "".join(decoder.stream(prompt, GenerationConfig(max_tokens=20), constraint=constraint))
    assert greedy in CHOICES


def test_masks_on_a_small_vocabulary():
    vocab = [b"", b"y", b"ye", b"yes", b"n", b"no", b"x", b"yesno", b"es", b"s", b"e"]  # id 0: end of sequence
    c = TokenConstraint(ChoiceMachine(["yes", "no"]), vocab, [0])

    def allowed(state: bytes) -> set[bytes]:
        return {vocab[i] for i in torch.nonzero(c.allowed(state)).flatten().tolist()}

    assert allowed(b"") == {b"y", b"ye", b"yes", b"n", b"no"}
    assert allowed(b"y") == {b"es", b"e"}
    assert allowed(b"ye") == {b"s"}
    assert allowed(b"yes") == {b""} and c.must_stop(b"yes") and not c.must_stop(b"ye")


def test_masks_are_memoised_in_a_bounded_lru(tokenizer):
    machine = ChoiceMachine(["yes", "yellow", "no"])
    c = TokenConstraint(machine, tokenizer.token_bytes, [tokenizer.eos_id], cache_size=2, max_states=2)
    first = c.allowed(b"")
    c.allowed(b"y")
    assert c.allowed(b"") is first  # a hit makes b"" the most recently used
    c.allowed(b"n")  # evicts b"y"
    assert list(c._masks) == [b"", b"n"]
    fresh = TokenConstraint(machine, tokenizer.token_bytes, [tokenizer.eos_id])
    assert all(torch.equal(c.allowed(s), fresh.allowed(s)) for s in (b"y", b"ye", b"yel", b"no"))
    with pytest.raises(ConfigError):
        TokenConstraint(machine, tokenizer.token_bytes, [], cache_size=0)
