"""Tokens matched whole in the text before any splitting, and the tokens that end a reply.

llama.cpp (``tokenizer_st_partition``) finds control, user-defined and unknown
tokens in the raw text, longest first, before the vocabulary's own encoder
sees the stretches between them; control tokens stand for no text when
decoding. The ``tokenizers`` library does the same with added tokens: control
and unknown tokens become special added tokens, user-defined ones plain added
tokens. Phi-3's special tokens also swallow the whitespace after them
(llama.cpp sets RSTRIP on them by model name, as Phi-3's tokenizer.json does).

The end of a reply is not only ``eos``: chat models end a turn with
``<|eot_id|>``, ``<|im_end|>``, ``<end_of_turn>`` or ``<|end|>``, which
llama.cpp recognises by their text (``special_eog_ids``); so do we.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tokenizers import AddedToken

from rag.model.tokenizer.token_types import CONTROL, UNKNOWN, USER_DEFINED

__all__ = ["END_OF_TURN", "added_tokens", "stop_ids"]

# Token texts that end generation whatever the file's eos id says (llama.cpp's list).
END_OF_TURN = frozenset(
    {
        "<|eot_id|>",
        "<|im_end|>",
        "<|end|>",
        "<end_of_turn>",
        "<|endoftext|>",
        "<|eom_id|>",
        "<EOT>",
        "_<EOT>",
        "<|end_of_text|>",
        "<end_of_utterance>",
    }
)
_PHI3_NO_RSTRIP = frozenset({"<unk>", "<s>", "<|endoftext|>"})


def _is_phi3(metadata: dict[str, Any]) -> bool:
    name = str(metadata.get("general.name", "")).lower()
    return "phi-3" in name or "phi3" in name


def added_tokens(
    tokens: Sequence[str], types: Sequence[int], metadata: dict[str, Any]
) -> tuple[list[AddedToken], list[AddedToken]]:
    """(special, plain) added tokens for the ``tokenizers`` pipeline, spelled as the file stores them.

    Special ones (control and unknown types, and the end-of-turn texts llama.cpp
    forces to control) are skipped when decoding; plain ones (user-defined) are text.
    """
    rstrip = _is_phi3(metadata)
    special, plain = [], []
    for text, kind in zip(tokens, types):
        is_special = kind in (CONTROL, UNKNOWN) or text in END_OF_TURN
        if not text or not (is_special or kind == USER_DEFINED):
            continue
        strip = rstrip and (text == "</s>" or text not in _PHI3_NO_RSTRIP)
        token = AddedToken(text, normalized=False, special=is_special, rstrip=strip)
        (special if is_special else plain).append(token)
    return special, plain


def stop_ids(tokens: Sequence[str], metadata: dict[str, Any]) -> frozenset[int]:
    """Ids that end a reply: eos, the file's end-of-turn/end-of-message ids and the end-of-turn texts."""
    keys = ("tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id")
    ids = {int(metadata[key]) for key in keys if metadata.get(key) is not None}
    ids |= {i for i, text in enumerate(tokens) if text in END_OF_TURN}
    return frozenset(i for i in ids if 0 <= i < len(tokens))
