"""The tokenizer and chat template stored in a GGUF file's metadata.

Two vocabulary kinds are supported, each built as a ``tokenizers`` pipeline so
that encoding runs at native speed: byte-level BPE (``tokenizer.ggml.model ==
"gpt2"``: GPT-2, SmolLM2, Llama 3, Qwen; :mod:`.bpe`, its word splits chosen by
``tokenizer.ggml.pre`` in :mod:`.pre_split`) and SentencePiece (``"llama"``:
Llama 2, Mistral, Gemma, Phi-3; :mod:`.spm`). Control, unknown and
user-defined tokens are matched whole in the text and control tokens skipped
when decoding (:mod:`.special`). The chat template is rendered with jinja2 in
a sandbox, as transformers renders it (:mod:`.chat_template`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import Any

from tokenizers import Tokenizer

from core.errors import ConfigError
from rag.model.tokenizer import bpe, spm
from rag.model.tokenizer.chat_template import ChatTemplate, ChatTemplateError, fold_system
from rag.model.tokenizer.special import stop_ids
from rag.model.tokenizer.token_types import CONTROL, NORMAL

__all__ = ["ChatTemplateError", "GGUFTokenizer", "IncrementalDecoder"]

# tokenizer.ggml.model -> (build the pipeline, the bytes of each token, add BOS when the file does not say)
_KINDS: dict[str, tuple[Callable[..., Tokenizer], Callable[..., list[bytes]], Callable[[dict], bool]]] = {
    "gpt2": (bpe.build, bpe.token_bytes, bpe.default_add_bos),
    "llama": (spm.build, spm.token_bytes, lambda _: True),
}


class GGUFTokenizer:
    """Encode/decode with a GGUF's vocabulary and apply its chat template.

    Attributes:
        vocab_size: number of token ids.
        bos_id, eos_id: the file's begin/end-of-sequence ids.
        stop_ids: the ids that end a reply: eos and the end-of-turn tokens (``<|eot_id|>``, ``<end_of_turn>``...).
        chat_template: the jinja2 source from ``tokenizer.chat_template`` (or None).
    """

    def __init__(self, metadata: dict[str, Any]) -> None:
        kind = metadata.get("tokenizer.ggml.model")
        if kind not in _KINDS:
            raise ConfigError(
                f"tokenizer type {kind!r} is not supported; supported GGUF vocabularies are "
                "'gpt2' (byte-level BPE) and 'llama' (SentencePiece)"
            )
        build, self._token_bytes, default_add_bos = _KINDS[kind]
        self.tokens: list[str] = list(metadata["tokenizer.ggml.tokens"])
        types = metadata.get("tokenizer.ggml.token_type")
        self._types = list(types) if types is not None else [NORMAL] * len(self.tokens)
        self._tok = build(metadata, self.tokens, self._types)
        self.vocab_size = len(self.tokens)
        self.bos_id = _optional_id(metadata, "tokenizer.ggml.bos_token_id")
        self.eos_id = _optional_id(metadata, "tokenizer.ggml.eos_token_id")
        self.stop_ids = stop_ids(self.tokens, metadata)
        # llama.cpp adds BOS to SentencePiece and Llama-3 vocabularies that do not say otherwise (older files).
        self.add_bos = bool(metadata.get("tokenizer.ggml.add_bos_token", default_add_bos(metadata)))
        self.chat_template: str | None = metadata.get("tokenizer.chat_template") or None

    # -- ids -------------------------------------------------------------
    def encode(self, text: str, add_bos: bool | None = None) -> list[int]:
        """Token ids of ``text``; special tokens written in the text are matched whole.

        ``add_bos`` (default: the file's setting) puts BOS first even when the
        text starts with it, as llama.cpp does; :meth:`encode_chat` avoids that.
        """
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
    def apply_chat_template(
        self, messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool = True, **variables: Any
    ) -> str:
        """Render ``messages`` (dicts with role and content) into the prompt text, as transformers does.

        Keyword arguments (``tools``, ``documents``, ``enable_thinking``...) become template variables.

        Raises:
            ConfigError: the file has no template, or the template refused the messages.
            ChatTemplateError: the template is broken or runs away.
        """
        if not self.chat_template:
            raise ConfigError("this GGUF has no tokenizer.chat_template; pass a plain prompt instead of chat messages")
        return self._template.render(messages, add_generation_prompt=add_generation_prompt, **variables)

    def encode_chat(
        self, messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool = True, **variables: Any
    ) -> list[int]:
        """Token ids of the rendered conversation, with exactly one BOS where the file asks for one.

        Templates that write ``bos_token`` themselves (Llama 3, Gemma) would get
        a second one from ``add_bos``; llama.cpp strips the template's, and so do we.
        For a template without a system role (Gemma's refuses one), system
        messages are folded into the next user message (:func:`.fold_system`), as llama.cpp does.
        """
        if self.chat_template and not self._template.supports_system_role:
            messages = fold_system(messages)
        text = self.apply_chat_template(messages, add_generation_prompt, **variables)
        bos = self._text_of(self.bos_id)
        if self.add_bos and bos and text.startswith(bos):
            text = text[len(bos) :]
        return self.encode(text)

    @cached_property
    def _template(self) -> ChatTemplate:
        assert self.chat_template is not None
        return ChatTemplate(
            self.chat_template, bos_token=self._text_of(self.bos_id), eos_token=self._text_of(self.eos_id)
        )

    def _text_of(self, token_id: int | None) -> str:
        return self.tokens[token_id] if token_id is not None else ""


def _optional_id(metadata: dict[str, Any], key: str) -> int | None:
    value = metadata.get(key)
    return int(value) if value is not None else None


class IncrementalDecoder:
    """Turns a growing list of token ids into text pieces for streaming.

    A piece is released only once it no longer ends in an incomplete UTF-8
    sequence (U+FFFD from both the byte-level and the byte-fallback decoder),
    so multi-byte characters split across tokens come out whole. Each step
    decodes only the tokens since the piece before last (their text gives the
    context a SentencePiece space or a split character needs), so a long reply
    costs linear time, not quadratic.
    """

    def __init__(self, tokenizer: GGUFTokenizer) -> None:
        self._tokenizer = tokenizer
        self._ids: list[int] = []
        self._start = 0  # the window decoded at each step begins here
        self._released = 0  # tokens before this index have been released as text

    def push(self, token_id: int) -> str:
        """Add one token; return the new text it completes (possibly "")."""
        self._ids.append(token_id)
        done = self._tokenizer.decode(self._ids[self._start : self._released])
        text = self._tokenizer.decode(self._ids[self._start :])
        if len(text) <= len(done) or text.endswith("\ufffd"):
            return ""
        self._start, self._released = self._released, len(self._ids)
        return text[len(done) :]

    @property
    def text(self) -> str:
        """All the text so far, including an incomplete character at the end."""
        return self._tokenizer.decode(self._ids)
