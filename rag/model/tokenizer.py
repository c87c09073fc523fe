"""The tokenizer and chat template stored in a GGUF file's metadata.

Byte-level BPE (``tokenizer.ggml.model == "gpt2"``) is built with the
``tokenizers`` library from the file's vocabulary and merges, the way
transformers builds it from the same file: control tokens (type 3) become
special tokens matched whole, user-defined tokens (type 4) plain added tokens.
The chat template is rendered with jinja2 in a sandbox.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from jinja2.sandbox import ImmutableSandboxedEnvironment
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

from indexes.errors import ConfigError

_CONTROL, _USER_DEFINED = 3, 4
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


class GGUFTokenizer:
    """Encode/decode with a GGUF's vocabulary and apply its chat template.

    Attributes:
        vocab_size: number of token ids.
        bos_id, eos_id: the file's begin/end-of-sequence ids (eos ends generation).
        chat_template: the jinja2 source from ``tokenizer.chat_template`` (or None).
    """

    def __init__(self, metadata: dict[str, Any]) -> None:
        kind = metadata.get("tokenizer.ggml.model")
        if kind != "gpt2":
            raise ConfigError(
                f"tokenizer type {kind!r} is not supported; only byte-level BPE ('gpt2') GGUF vocabularies are"
            )
        pre = metadata.get("tokenizer.ggml.pre", "default")
        if pre not in _SPLITS:
            raise ConfigError(f"pre-tokenizer {pre!r} is not supported (supported: {', '.join(sorted(_SPLITS))})")
        self.tokens: list[str] = list(metadata["tokenizer.ggml.tokens"])
        types = metadata.get("tokenizer.ggml.token_type")
        types = list(types) if types is not None else [1] * len(self.tokens)
        alphabet = _byte_alphabet()
        spelled = set(alphabet.values())
        vocab = {
            t if set(t) <= spelled else "".join(alphabet[b] for b in t.encode("utf-8")): i
            for i, t in enumerate(self.tokens)
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
                for t, k in zip(self.tokens, types)
                if k == _CONTROL and set(t) <= spelled
            ]
        )
        tok.add_tokens(
            [
                AddedToken(t, normalized=False, special=False)
                for t, k in zip(self.tokens, types)
                if k == _USER_DEFINED and t in vocab
            ]
        )
        self._tok = tok
        self._types = types
        self.vocab_size = len(self.tokens)
        self.bos_id = metadata.get("tokenizer.ggml.bos_token_id")
        self.eos_id = metadata.get("tokenizer.ggml.eos_token_id")
        self.add_bos = bool(metadata.get("tokenizer.ggml.add_bos_token", False))
        self.chat_template: str | None = metadata.get("tokenizer.chat_template")

    # -- ids -------------------------------------------------------------
    def encode(self, text: str, add_bos: bool | None = None) -> list[int]:
        """Token ids of ``text``; special tokens written in the text are matched whole."""
        ids = self._tok.encode(text, add_special_tokens=False).ids
        if (self.add_bos if add_bos is None else add_bos) and self.bos_id is not None:
            ids = [self.bos_id, *ids]
        return ids

    def decode(self, ids: Sequence[int], skip_special: bool = True) -> str:
        return self._tok.decode(list(ids), skip_special_tokens=skip_special)

    @cached_property
    def token_bytes(self) -> list[bytes]:
        """The bytes each token id stands for; control tokens map to b"" (they are never text)."""
        inverse = {c: b for b, c in _byte_alphabet().items()}
        return [
            b""
            if k == _CONTROL
            else (bytes(inverse[c] for c in t) if all(c in inverse for c in t) else t.encode("utf-8"))
            for t, k in zip(self.tokens, self._types)
        ]

    def is_control(self, token_id: int) -> bool:
        return self._types[token_id] == _CONTROL

    # -- chat --------------------------------------------------------------
    def apply_chat_template(self, messages: Sequence[dict[str, str]], add_generation_prompt: bool = True) -> str:
        """Render ``messages`` (dicts with role and content) into the prompt text."""
        if not self.chat_template:
            raise ConfigError("this GGUF has no tokenizer.chat_template; pass a plain prompt instead of chat messages")
        return self._template.render(
            messages=list(messages),
            add_generation_prompt=add_generation_prompt,
            bos_token=self.tokens[self.bos_id] if self.bos_id is not None else "",
            eos_token=self.tokens[self.eos_id] if self.eos_id is not None else "",
        )

    @cached_property
    def _template(self) -> Any:
        def raise_exception(message: str) -> None:
            raise ConfigError(f"chat template refused the messages: {message}")

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = raise_exception
        return env.from_string(self.chat_template)


class IncrementalDecoder:
    """Turns a growing list of token ids into text pieces for streaming.

    A piece is released only once it no longer ends in an incomplete UTF-8
    sequence, so multi-byte characters split across tokens come out whole.
    """

    def __init__(self, tokenizer: GGUFTokenizer) -> None:
        self._tokenizer = tokenizer
        self._ids: list[int] = []
        self._emitted = ""

    def push(self, token_id: int) -> str:
        """Add one token; return the new text it completes (possibly "")."""
        self._ids.append(token_id)
        text = self._tokenizer.decode(self._ids)
        if text.endswith("\ufffd"):
            return ""
        piece = text[len(self._emitted) :]
        self._emitted = text
        return piece

    @property
    def text(self) -> str:
        return self._tokenizer.decode(self._ids)
