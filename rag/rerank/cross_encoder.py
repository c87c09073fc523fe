"""A MiniLM cross-encoder: (query, passage) read together by one BERT, scored by a linear head.

The encoder starts from the packaged all-MiniLM-L6-v2 (``ingest.embed.model_dir()``)
and is fine-tuned on SciFact train (``python -m rag.training.rerank``). The pair is read in
one pass, so query and passage tokens attend to each other; the score is then

    score = Linear(384, 1)(normalize(u) * normalize(v))

where ``u`` and ``v`` are the means of the last hidden states over the query's
and the passage's tokens ([CLS], [SEP] and padding left out). The head's
weights start at 20 and its bias at 0, so an untrained model scores
``20 * cos(u, v)``: the similarity, pooling and scale (1/0.05) the packaged
model was itself trained with. A head on the mean or [CLS] vector of the whole
pair starts from a random direction instead: in a first run it was still far
below the first stage after 67 steps (validation nDCG@10 0.21 against 0.73),
while this head scores 0.46 untrained (24 validation claims, top 20) and the
shipped run ended at 0.76 (see ``weights/minilm-scifact.json``).

Shipped weights hold every parameter except the word-embedding matrix, which
is frozen in training and so equals the packaged one: fp16 safetensors of
about 22 MB instead of 45. Loading puts the saved tensors over the base model
and checks that every saved key matched a parameter.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ingest.embed import model_dir
from rag.rerank.partial_state import (  # noqa: F401  (file_sha256: imported from here elsewhere)
    file_sha256,
    load_trainable_state,
    read_partial,
    save_partial,
    trainable_state,
)

MAX_LENGTH = 256  # tokens of query + passage; the passage is truncated, and the query only past MAX_QUERY_TOKENS
MAX_QUERY_TOKENS = 128  # a longer query is read as its first 128 tokens, leaving the passage at least 125
BATCH_SIZE = 32  # pairs per forward pass at inference
HEAD_INIT_SCALE = 20.0  # 1 / temperature of the base model's contrastive training
FROZEN_KEYS = ("encoder.embeddings.word_embeddings.weight",)  # not saved: identical to the packaged model
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


class CrossEncoder(nn.Module):
    """BERT reading (query, passage) together + a linear head on the product of their normalised token means."""

    def __init__(self) -> None:
        super().__init__()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is packaged; nothing may download
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        path = model_dir()
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.encoder = AutoModel.from_pretrained(str(path), local_files_only=True)
        # The checkpoint's pooler is unused (we pool means): drop it after loading, since
        # add_pooling_layer=False would make transformers log a report of unexpected keys.
        self.encoder.pooler = None
        hidden = int(self.encoder.config.hidden_size)
        self.head = nn.Linear(hidden, 1)
        nn.init.constant_(self.head.weight, HEAD_INIT_SCALE)  # score = 20 * cos(u, v) before training
        nn.init.zeros_(self.head.bias)
        self.special_ids = torch.tensor(sorted(set(self.tokenizer.all_special_ids)))

    def query_head(self, query: str) -> str:
        """``query`` up to the end of its first :data:`MAX_QUERY_TOKENS` tokens (all of a shorter one).

        The pair is cut from the passage's end ("only_second"), which cannot make room
        for a query of ``MAX_LENGTH`` tokens or more: the tokenizer would refuse the pair.
        """
        ends = self.tokenizer(
            query, add_special_tokens=False, truncation=True, max_length=MAX_QUERY_TOKENS, return_offsets_mapping=True
        )["offset_mapping"]
        return query[: ends[-1][1]] if len(ends) == MAX_QUERY_TOKENS else query

    def encode_pairs(self, queries: Sequence[str], passages: Sequence[str]) -> dict[str, torch.Tensor]:
        """Tokenise pairs, padded to the longest in the batch (``input_ids`` etc. of shape (B, T))."""
        return self.tokenizer(
            list(queries),
            list(passages),
            truncation="only_second",
            max_length=MAX_LENGTH,
            padding=True,
            return_tensors="pt",
        )

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Scores of a tokenised batch: float32 (B,)."""
        hidden = self.encoder(**batch).last_hidden_state  # (B, T, H)
        words = batch["attention_mask"].bool() & ~torch.isin(batch["input_ids"], self.special_ids)  # (B, T)
        second = batch["token_type_ids"].bool()  # (B, T): the passage's tokens
        u = _masked_mean(hidden, words & ~second)  # (B, H) the query, read beside the passage
        v = _masked_mean(hidden, words & second)  # (B, H) the passage, read beside the query
        features = nn.functional.normalize(u, dim=-1) * nn.functional.normalize(v, dim=-1)  # (B, H)
        return self.head(features).squeeze(-1)  # (B,)

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """Every parameter except the frozen word embeddings, as fp16 CPU tensors."""
        return trainable_state(self, FROZEN_KEYS)

    def load_trainable_state(self, tensors: dict[str, torch.Tensor]) -> None:
        """Put saved tensors over the base weights; every saved key must name a parameter of the right shape."""
        load_trainable_state(self, tensors, FROZEN_KEYS, "reranker", "python -m rag.training.rerank")


def _masked_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``hidden`` (B, T, H) over the positions where ``mask`` (B, T) holds; zeros where none do."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)


def save_weights(model: CrossEncoder, stem: Path, metadata: dict) -> Path:
    """Write ``<stem>.safetensors`` (fp16, no word embeddings) and ``<stem>.json``; returns the tensor file."""
    return save_partial(model, FROZEN_KEYS, stem, metadata, "localrag-cross-encoder")


def load_model(stem: Path) -> CrossEncoder:
    """The cross-encoder with the weights saved under ``stem`` (``.safetensors`` + ``.json``), in eval mode.

    Raises:
        MissingDependencyError: the weight file is not there.
        ModelFileError: the file does not fit the model.
    """
    tensors = read_partial(
        stem,
        f"reranker weights {stem.with_suffix('.safetensors')} are missing: train them with `python -m "
        f"rag.training.rerank --data ../shared/data/scifact --out {stem}` (about 40 minutes on 2 CPU cores)",
    )
    model = CrossEncoder()
    model.load_trainable_state(tensors)
    return model.eval()


class CrossEncoderReranker:
    """:class:`~rag.rerank.base.Reranker` over a :class:`CrossEncoder`.

    Args:
        model: a trained cross-encoder (put in eval mode here).
        name: the registry name.
        batch_size: pairs per forward pass.
    """

    def __init__(self, model: CrossEncoder, name: str = "minilm-scifact", batch_size: int = BATCH_SIZE) -> None:
        self.model = model.eval()
        self.name = name
        self.batch_size = batch_size

    @classmethod
    def from_weights(cls, stem: Path | None = None, name: str = "minilm-scifact") -> CrossEncoderReranker:
        """Load the weights saved under ``stem`` (default: the shipped ``weights/<name>``)."""
        return cls(load_model(stem or WEIGHTS_DIR / name), name=name)

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        """float32 (len(passages),) relevance scores; higher is more relevant (of a long query, its beginning)."""
        query = self.model.query_head(query)
        return score_pairs(self.model, [query] * len(passages), passages, self.batch_size)


def score_pairs(model: CrossEncoder, queries: Sequence[str], passages: Sequence[str], batch_size: int) -> np.ndarray:
    """float32 (n,) scores of n (query, passage) pairs, in batches, without autograd.

    Pairs are sorted by passage length so that a batch pads little.
    """
    out = np.empty(len(passages), dtype=np.float32)
    order = np.argsort([len(p) for p in passages], kind="stable")
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = model.encode_pairs([queries[i] for i in idx], [passages[i] for i in idx])
            out[idx] = model(batch).float().numpy()
    return out
