"""Byte-level BPE vocabularies (``tokenizer.ggml.model == "gpt2"``).

Built with the ``tokenizers`` library from the file's vocabulary and merges,
the way transformers builds it from the same file: control tokens become
special tokens matched whole, user-defined tokens plain added tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

from core.errors import ConfigError
from rag.model.tokenizer.token_types import CONTROL, USER_DEFINED

# Pre-tokenizer splits by llama.cpp's ``tokenizer.ggml.pre`` name. The GPT-2
# family uses ByteLevel's built-in regex (None here).
_LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_SPLITS: dict[str, str | None] = {
    "gpt2": None,
    "default": None,
    "smollm": None,
    "starcoder": None,
    "llama-bpe": _LLAMA3_SPLIT,
    "llama3": _LLAMA3_SPLIT,
    "smaug-bpe": _LLAMA3_SPLIT,
}


def _byte_alphabet() -> dict[int, str]:
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


def build(metadata: dict[str, Any], tokens: Sequence[str], types: Sequence[int]) -> Tokenizer:
    """The ``tokenizers`` pipeline for this vocabulary; raises ConfigError for an unknown pre-tokenizer."""
    pre = metadata.get("tokenizer.ggml.pre", "default")
    if pre not in _SPLITS:
        raise ConfigError(f"pre-tokenizer {pre!r} is not supported (supported: {', '.join(sorted(_SPLITS))})")
    alphabet = _byte_alphabet()
    spelled = set(alphabet.values())
    vocab = {
        t if set(t) <= spelled else "".join(alphabet[b] for b in t.encode("utf-8")): i for i, t in enumerate(tokens)
    }
    merges = [tuple(m.split(" ", 1)) for m in metadata.get("tokenizer.ggml.merges", [])]
    tok = Tokenizer(models.BPE(vocab, merges, fuse_unk=False, byte_fallback=False))
    split = _SPLITS[pre]
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=split is None)
    tok.pre_tokenizer = (
        byte_level
        if split is None
        else pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(split), behavior="isolated"), byte_level])
    )
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(
        [
            AddedToken(t, normalized=False, special=True)
            for t, k in zip(tokens, types)
            if k == CONTROL and set(t) <= spelled
        ]
    )
    tok.add_tokens(
        [
            AddedToken(t, normalized=False, special=False)
            for t, k in zip(tokens, types)
            if k == USER_DEFINED and t in vocab
        ]
    )
    return tok


def token_bytes(tokens: Sequence[str], types: Sequence[int]) -> list[bytes]:
    """Tokens are spelled in GPT-2's byte alphabet; the few spelled otherwise (added tokens) stand for their UTF-8."""
    inverse = {c: b for b, c in _byte_alphabet().items()}
    return [
        b"" if k == CONTROL else (bytes(inverse[c] for c in t) if all(c in inverse for c in t) else t.encode("utf-8"))
        for t, k in zip(tokens, types)
    ]
