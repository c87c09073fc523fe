"""A small SentencePiece vocabulary trained on the spot, and the GGUF metadata llama.cpp's converter writes for it.

Shared by the SentencePiece tokenizer tests and the second-Llama loading tests.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

spm = pytest.importorskip("sentencepiece")

WORDS = (
    "the of and to in is that for it as with was on be by this are from at or an have not which one but all "
    "retrieval augmented generation index vector search query answer passage model token language embedding "
    "chunk document score rank library river mountain history science music garden kitchen window morning"
).split()
CODE = [
    "def score(query, passage):",
    "    return sum(w in passage for w in query.split())",
    "class Index:",
    "    def __init__(self, dim=384):",
    "        self.dim = dim",
    "        self.rows = []",
    "\tif x > 0:",
    "\t\treturn [i * 2 for i in range(10)]",
    "for i in range(10): print(i, i ** 2)",
    "x = {'a': 1, 'b': [2, 3]}  # a dict",
]


def training_text() -> list[str]:
    """A few KB of ASCII prose and code: indentation teaches whitespace pieces, digits are split."""
    rng = random.Random(0)
    lines = []
    for _ in range(300):
        words = [rng.choice(WORDS) for _ in range(rng.randint(4, 14))]
        words[0] = words[0].capitalize()
        lines.append(" ".join(words) + rng.choice([".", "?", "!", ";", ",", ":"]) + f" {rng.randint(0, 9999)}")
    return lines + CODE * 5


def train_spm(directory, add_dummy_prefix: bool = True):
    """Train like Llama's tokenizer.model: BPE, byte fallback, identity normalization, spaces kept."""
    prefix = str(directory / ("spm" if add_dummy_prefix else "spm_noprefix"))
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(training_text()),
        model_prefix=prefix,
        model_type="bpe",
        vocab_size=500,
        byte_fallback=True,
        character_coverage=1.0,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        add_dummy_prefix=add_dummy_prefix,
        allow_whitespace_only_pieces=True,
        split_digits=True,
        num_threads=1,
        minloglevel=2,
    )
    return spm.SentencePieceProcessor(model_file=prefix + ".model")


def token_type(sp, i: int) -> int:
    """llama.cpp's converter: unknown 2, control 3, unused 5, byte 6, everything else normal 1."""
    if sp.IsUnknown(i):
        return 2
    if sp.IsControl(i):
        return 3
    if sp.IsUnused(i):
        return 5
    if sp.IsByte(i):
        return 6
    return 1


def spm_metadata(sp) -> dict:
    """What ``_set_vocab_sentencepiece`` writes, as our GGUF reader returns it (arrays as numpy)."""
    n = sp.GetPieceSize()
    return {
        "tokenizer.ggml.model": "llama",
        "tokenizer.ggml.pre": "default",
        "tokenizer.ggml.tokens": [sp.IdToPiece(i) for i in range(n)],
        "tokenizer.ggml.scores": np.array([sp.GetScore(i) for i in range(n)], dtype=np.float32),
        "tokenizer.ggml.token_type": np.array([token_type(sp, i) for i in range(n)], dtype=np.int32),
        "tokenizer.ggml.bos_token_id": sp.bos_id(),
        "tokenizer.ggml.eos_token_id": sp.eos_id(),
        "tokenizer.ggml.unknown_token_id": sp.unk_id(),
        "tokenizer.ggml.add_bos_token": True,
        "tokenizer.ggml.add_eos_token": False,
    }
