"""Questions and passages as token windows, and spans of tokens back to exact characters of a passage.

A passage longer than one window is read in overlapping windows (``stride``
tokens shared between neighbours, the "doc stride" of BERT's SQuAD reader).
Every window keeps, per token, the character range it came from in its
passage (the fast tokenizer's offsets, which point into the original string
even where the tokenizer lower-cases or strips accents), so a span of tokens
maps back to ``passage[start:end]`` exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

MAX_LENGTH = 256  # tokens of question + passage window, specials included
STRIDE = 96  # tokens two neighbouring windows of one passage share
MAX_QUESTION_TOKENS = 64  # a longer question is read as its first 64 tokens


@dataclass(frozen=True)
class Window:
    """One (question, passage window) input.

    Attributes:
        passage: index of the passage in the list read.
        input_ids, token_type_ids: the tokens ([CLS] question [SEP] window [SEP]).
        offsets: per token, ``(start, end)`` characters in the passage; ``None`` off the passage.
    """

    passage: int
    input_ids: tuple[int, ...]
    token_type_ids: tuple[int, ...]
    offsets: tuple[tuple[int, int] | None, ...]

    def token_span(self, char_start: int, char_end: int) -> tuple[int, int] | None:
        """Tokens ``(i, j)`` (inclusive) covering ``passage[char_start:char_end]``; None if not all in this window."""
        inside = [k for k, o in enumerate(self.offsets) if o is not None]
        if not inside or char_start < self.offsets[inside[0]][0] or char_end > self.offsets[inside[-1]][1]:
            return None
        i = next((k for k in inside if self.offsets[k][1] > char_start), None)
        j = next((k for k in reversed(inside) if self.offsets[k][0] < char_end), None)
        return None if i is None or j is None or j < i else (i, j)

    def char_span(self, i: int, j: int) -> tuple[int, int]:
        """Characters ``[start, end)`` of the passage covered by tokens ``i..j`` (both in the passage)."""
        return self.offsets[i][0], self.offsets[j][1]


def question_head(tokenizer, question: str, limit: int = MAX_QUESTION_TOKENS) -> str:
    """``question`` up to the end of its first ``limit`` tokens (all of a shorter one).

    ``tokenizer`` is the model's ``tokenizers.Tokenizer`` without truncation (:func:`ingest.embed.load_tokenizer`,
    shared with the chunker: this module only encodes with it, which any number of threads may do at once).
    """
    ends = tokenizer.encode(question, add_special_tokens=False).offsets
    return question[: ends[limit - 1][1]] if len(ends) >= limit else question


def make_windows(
    tokenizer,
    questions: Sequence[str],
    passages: Sequence[str],
    max_length: int = MAX_LENGTH,
    stride: int = STRIDE,
) -> list[Window]:
    """Windows of ``(questions[k], passages[k])`` pairs, each passage in as many windows as it needs.

    ``Window.passage`` is the pair's index ``k``. Questions must already be cut to :func:`question_head`.
    The windows are those of BERT's fast tokenizer with ``truncation="only_second"`` and overflowing tokens
    (``transformers``, ``tokenizers``): each pair's first window, then the next ones, every window holding
    ``max_length - 3 - len(question)`` passage tokens (fewer in the last), neighbours sharing ``stride``.

    Raises:
        ValueError: a question leaves no more than ``stride`` tokens of a window for the passage.
    """
    if not passages:
        return []
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    heads = tokenizer.encode_batch(list(questions), add_special_tokens=False)
    bodies = tokenizer.encode_batch(list(passages), add_special_tokens=False)
    out = []
    for k, (head, body) in enumerate(zip(heads, bodies)):
        room = max_length - 3 - len(head.ids)  # passage tokens per window
        if len(body.ids) > room and room <= stride:
            raise ValueError(f"a question of {len(head.ids)} tokens leaves {room} of {max_length} for the passage")
        ids = (cls_id, *head.ids, sep_id)
        for lo, hi in _parts(len(body.ids), room, stride):
            out.append(
                Window(
                    k,
                    (*ids, *body.ids[lo:hi], sep_id),
                    (0,) * len(ids) + (1,) * (hi - lo + 1),
                    (None,) * len(ids) + tuple(body.offsets[lo:hi]) + (None,),
                )
            )
    return out


def _parts(n: int, room: int, stride: int) -> list[tuple[int, int]]:
    """Token ranges of a passage of ``n`` tokens, ``room`` at a time, each starting ``room - stride`` after the
    last, until one reaches the end (``tokenizers``' ``Encoding.truncate``); one range when it fits."""
    if n <= room:
        return [(0, n)]
    parts = []
    for lo in range(0, n, room - stride):
        parts.append((lo, min(lo + room, n)))
        if lo + room >= n:
            break
    return parts


def collate(windows: Sequence[Window]) -> dict[str, torch.Tensor]:
    """Pad windows to the longest: ``input_ids``, ``token_type_ids``, ``attention_mask`` (B, T) int64."""
    width = max(len(w.input_ids) for w in windows)
    ids = torch.zeros((len(windows), width), dtype=torch.long)
    types = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    for r, w in enumerate(windows):
        n = len(w.input_ids)
        ids[r, :n] = torch.tensor(w.input_ids)
        types[r, :n] = torch.tensor(w.token_type_ids)
        mask[r, :n] = 1
    return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}
