"""The tokenizer and chat template stored in a GGUF file's metadata.

Two vocabulary kinds are supported, each built as a ``tokenizers`` pipeline so
that encoding runs at native speed: byte-level BPE (``tokenizer.ggml.model ==
"gpt2"``, :mod:`.bpe`) and SentencePiece (``"llama"``, :mod:`.spm`). Control
tokens (type 3) are matched whole in the text and skipped when decoding. The
chat template is rendered with jinja2 in a sandbox.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any

from jinja2.sandbox import ImmutableSandboxedEnvironment
from tokenizers import Tokenizer

from core.errors import ConfigError
from rag.model.tokenizer import bpe, spm
from rag.model.tokenizer.token_types import CONTROL, NORMAL

__all__ = ["GGUFTokenizer", "IncrementalDecoder"]

# tokenizer.ggml.model -> (build the pipeline, the bytes of each token)
_KINDS: dict[str, tuple[Callable[..., Tokenizer], Callable[..., list[bytes]]]] = {
    "gpt2": (bpe.build, bpe.token_bytes),
    "llama": (spm.build, spm.token_bytes),
}


class GGUFTokenizer:
    """Encode/decode with a GGUF's vocabulary and apply its chat template.

    Attributes:
        vocab_size: number of token ids.
        bos_id, eos_id: the file's begin/end-of-sequence ids (eos ends generation).
        chat_template: the jinja2 source from ``tokenizer.chat_template`` (or None).
    """

    def __init__(self, metadata: dict[str, Any]) -> None:
        kind = metadata.get("tokenizer.ggml.model")
        if kind not in _KINDS:
            raise ConfigError(
                f"tokenizer type {kind!r} is not supported; supported GGUF vocabularies are "
                "'gpt2' (byte-level BPE) and 'llama' (SentencePiece)"
            )
        build, self._token_bytes = _KINDS[kind]
        self.tokens: list[str] = list(metadata["tokenizer.ggml.tokens"])
        types = metadata.get("tokenizer.ggml.token_type")
        self._types = list(types) if types is not None else [NORMAL] * len(self.tokens)
        self._tok = build(metadata, self.tokens, self._types)
        self.vocab_size = len(self.tokens)
        self.bos_id = metadata.get("tokenizer.ggml.bos_token_id")
        self.eos_id = metadata.get("tokenizer.ggml.eos_token_id")
        # llama.cpp adds BOS to a SentencePiece vocabulary that does not say otherwise (older files lack the key).
        self.add_bos = bool(metadata.get("tokenizer.ggml.add_bos_token", kind == "llama"))
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
        return self._token_bytes(self.tokens, self._types)

    def is_control(self, token_id: int) -> bool:
        return self._types[token_id] == CONTROL

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
    sequence (U+FFFD from both the byte-level and the byte-fallback decoder),
    so multi-byte characters split across tokens come out whole.
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
