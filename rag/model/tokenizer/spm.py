"""SentencePiece vocabularies (``tokenizer.ggml.model == "llama"``: Llama-2, Mistral, Gemma, Phi-3).

The file holds pieces and scores but no merges. SentencePiece's BPE encoder
repeatedly joins the adjacent pair whose joined piece is in the vocabulary
with the highest score, so ranking every such pair by the score of the piece it
makes gives ordinary BPE merges, and the ``tokenizers`` library runs them at
native speed; characters outside the vocabulary fall back to ``<0xXX>`` byte
pieces. The text is escaped as SentencePiece does (spaces to "▁", one "▁"
prepended unless ``tokenizer.ggml.add_space_prefix`` is false) and decoding
drops that prepended space again.

Control, unknown and user-defined tokens are matched whole in the raw text,
like llama.cpp does (:mod:`.special`), and each stretch of text between them is escaped on its own,
so "<s>hi" encodes as "<s>" followed by what SentencePiece makes of "hi".
SentencePiece's own normalizer (NFKC for some models, identity for Llama's)
is not stored in a GGUF and is not applied, again like llama.cpp. Gemma's
files say ``add_space_prefix = false`` and list runs of spaces and newlines as
user-defined tokens (written with real spaces), which are then matched whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tokenizers import Tokenizer, decoders, models, normalizers

from core.errors import ConfigError
from rag.model.tokenizer.special import added_tokens
from rag.model.tokenizer.token_types import BYTE, CONTROL, NORMAL, UNKNOWN, UNUSED, USER_DEFINED

SPACE = "\u2581"  # "▁", SentencePiece's escaped space


def _merges(tokens: Sequence[str], scores: Sequence[float], types: Sequence[int]) -> list[tuple[str, str]]:
    """Every way to make a piece from two pieces, best-scoring piece first.

    Only normal and unused pieces take part: SentencePiece keeps control,
    unknown and byte pieces out of merging. Pairs making the same piece (or
    pieces of equal score) are ordered by id, where SentencePiece would take
    the leftmost in the text; trained vocabularies give distinct scores to the
    pieces merges can make, so this does not come up for them.
    """
    mergeable = {t: i for i, (t, k) in enumerate(zip(tokens, types)) if k in (NORMAL, UNUSED)}
    ranked = []
    for piece, i in mergeable.items():
        for cut in range(1, len(piece)):
            if piece[:cut] in mergeable and piece[cut:] in mergeable:
                ranked.append((-float(scores[i]), i, cut))
    ranked.sort()
    return [(tokens[i][:cut], tokens[i][cut:]) for _, i, cut in ranked]


def build(metadata: dict[str, Any], tokens: Sequence[str], types: Sequence[int]) -> Tokenizer:
    """The ``tokenizers`` pipeline for this vocabulary; raises ConfigError when the scores are missing."""
    scores = metadata.get("tokenizer.ggml.scores")
    if scores is None or len(scores) != len(tokens):
        raise ConfigError("this SentencePiece GGUF has no tokenizer.ggml.scores for its tokens; it cannot be encoded")
    unk_id = metadata.get("tokenizer.ggml.unknown_token_id")
    if unk_id is None:
        unk_id = next((i for i, k in enumerate(types) if k == UNKNOWN), None)
    model = models.BPE(
        {t: i for i, t in enumerate(tokens)},
        _merges(tokens, scores, types),
        unk_token=tokens[unk_id] if unk_id is not None else None,
        fuse_unk=False,
        byte_fallback=True,
    )
    tok = Tokenizer(model)
    escape = normalizers.Replace(" ", SPACE)
    prefix = bool(metadata.get("tokenizer.ggml.add_space_prefix", True))
    # The normalizer runs on each stretch of text between added tokens, which is what puts the prefix after them.
    tok.normalizer = normalizers.Sequence([normalizers.Prepend(SPACE), escape]) if prefix else escape
    steps = [decoders.Replace(SPACE, " "), decoders.ByteFallback(), decoders.Fuse()]
    tok.decoder = decoders.Sequence([*steps, decoders.Strip(" ", 1, 0)] if prefix else steps)
    special, plain = added_tokens(tokens, types, metadata)
    tok.add_special_tokens(special)
    tok.add_tokens(plain)
    return tok


def token_bytes(tokens: Sequence[str], types: Sequence[int]) -> list[bytes]:
    """Pieces stand for their text with "▁" as a space, byte pieces for their byte; non-text tokens for nothing.

    llama.cpp writes user-defined tokens with real spaces already, so they are taken as they are.
    """
    out = []
    for t, k in zip(tokens, types):
        if k == BYTE:
            out.append(bytes([int(t[3:-1], 16)]))  # "<0xE3>"
        elif k in (CONTROL, UNKNOWN, UNUSED):
            out.append(b"")
        elif k == USER_DEFINED:
            out.append(t.encode("utf-8"))
        else:
            out.append(t.replace(SPACE, " ").encode("utf-8"))
    return out
