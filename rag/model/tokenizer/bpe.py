"""Byte-level BPE vocabularies (``tokenizer.ggml.model == "gpt2"``: GPT-2, SmolLM2, Llama 3, Qwen 2/2.5/3...).

Built with the ``tokenizers`` library from the file's vocabulary and merges,
the way the models' own ``tokenizer.json`` declare it: the words are cut by
the family's regular expressions (:mod:`.pre_split`, chosen by
``tokenizer.ggml.pre``), their UTF-8 bytes spelled in GPT-2's printable byte
alphabet, and merged by rank. The file spells ordinary tokens in that
alphabet but control and user-defined tokens as their plain text (the
converter copies added tokens as they are), so those keep their plain text as
the key and are matched whole in the text (:mod:`.special`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

from rag.model.tokenizer.pre_split import DIGITS, GPT2, PreSplit, pre_split
from rag.model.tokenizer.special import added_tokens
from rag.model.tokenizer.token_types import CONTROL, UNKNOWN, USER_DEFINED


@cache
def byte_alphabet() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, n = {}, 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + n)
            n += 1
    return chars


@cache
def _spelling() -> tuple[frozenset[str], dict[int, str]]:
    """The byte alphabet's characters, and the ``str.translate`` table from a byte (as Latin-1) to its character."""
    alphabet = byte_alphabet()
    return frozenset(alphabet.values()), alphabet


def _spelled(text: str) -> str:
    """A token as the byte alphabet spells it (tokens already spelled so stay as they are)."""
    chars, table = _spelling()
    if chars.issuperset(text):
        return text
    return text.encode("utf-8").decode("latin-1").translate(table)  # each byte, as its character


def _vocab(tokens: Sequence[str], types: Sequence[int]) -> dict[str, int]:
    """Token text -> id; added tokens under their plain text, the rest spelled in the byte alphabet."""
    vocab: dict[str, int] = {}
    for i, (text, kind) in enumerate(zip(tokens, types)):
        key = text if kind in (CONTROL, USER_DEFINED, UNKNOWN) else _spelled(text)
        vocab.setdefault(key, i)  # a spelling listed twice keeps its first id
    return vocab


def _pre_tokenizer(split: PreSplit) -> pre_tokenizers.PreTokenizer:
    """The splits, then the byte alphabet. Two common steps use the library's built-in (faster) forms."""
    patterns = list(split.patterns)
    byte_level_regex = patterns[-1:] == [GPT2]  # ByteLevel's own regex is GPT-2's
    if byte_level_regex:
        patterns.pop()
    steps = [
        pre_tokenizers.Digits(individual_digits=True) if p == DIGITS else pre_tokenizers.Split(Regex(p), "isolated")
        for p in patterns
    ]
    return pre_tokenizers.Sequence(
        [*steps, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=byte_level_regex)]
    )


def build(metadata: dict[str, Any], tokens: Sequence[str], types: Sequence[int]) -> Tokenizer:
    """The ``tokenizers`` pipeline for this vocabulary (an unknown pre-tokenizer name is warned about)."""
    split = pre_split(metadata.get("tokenizer.ggml.pre"))
    merges = [tuple(m.split(" ", 1)) for m in metadata.get("tokenizer.ggml.merges", [])]
    model = models.BPE(_vocab(tokens, types), merges, fuse_unk=False, ignore_merges=split.ignore_merges)
    tok = Tokenizer(model)
    if split.nfc:
        tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = _pre_tokenizer(split)
    tok.decoder = decoders.ByteLevel()
    special, plain = added_tokens(tokens, types, metadata)
    tok.add_special_tokens(special)
    tok.add_tokens(plain)
    return tok


def default_add_bos(metadata: dict[str, Any]) -> bool:
    """Whether llama.cpp adds BOS to this vocabulary when ``tokenizer.ggml.add_bos_token`` is absent."""
    return pre_split(metadata.get("tokenizer.ggml.pre")).add_bos


def token_bytes(tokens: Sequence[str], types: Sequence[int]) -> list[bytes]:
    """Tokens are spelled in GPT-2's byte alphabet; the few spelled otherwise (added tokens) stand for their UTF-8."""
    inverse = {c: b for b, c in byte_alphabet().items()}
    return [
        b"" if k == CONTROL else (bytes(inverse[c] for c in t) if all(c in inverse for c in t) else t.encode("utf-8"))
        for t, k in zip(tokens, types)
    ]
