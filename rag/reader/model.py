"""The span reader: all-MiniLM-L6-v2 reads (question, passage window) and a linear head scores starts and ends.

    start_logits, end_logits = Linear(384, 2)(last hidden state)      # per token

A span (i, j) of passage tokens scores ``start[i] + end[j]``; the no-answer
score is the same sum at [CLS] (position 0), as in BERT's SQuAD 2.0 reader
(Devlin et al. 2019, section 4.3): a window "answers nothing" by pointing both
ends at [CLS]. The reader's margin ``best span - null`` decides abstention
against a threshold fitted on the SQuAD 2.0 calibration half.

Shipped weights hold every parameter except the word-embedding matrix, which
is frozen in training and so equals the packaged one (fp16, about 22 MB).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from ingest.embed import load_tokenizer, model_dir
from ingest.embed.bert import load_bert
from rag.rerank.partial_state import load_trainable_state, read_partial, save_partial, trainable_state

FROZEN_KEYS = ("encoder.embeddings.word_embeddings.weight",)  # not saved: identical to the packaged model
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_NAME = "minilm-squad"
FORMAT = "localrag-span-reader"


class SpanReader(nn.Module):
    """BERT over (question, passage window) + a start/end head; position 0 ([CLS]) is the null span."""

    def __init__(self) -> None:
        super().__init__()
        # plain torch and the tokenizers library, not transformers: its modeling imports torch._dynamo, sympy,
        # pandas and scikit-learn (221 MB of a server's memory), its tokenizer 44 MB more
        self.tokenizer = load_tokenizer()  # shared with the chunker (never truncates)
        self.encoder = load_bert(model_dir())
        self.head = nn.Linear(int(self.encoder.config.hidden_size), 2)
        nn.init.normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor):
        """Start and end logits, float32 (B, T) each; padding gets -1e4."""
        hidden = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        logits = self.head(hidden).float()  # (B, T, 2)
        pad = attention_mask == 0
        start = logits[..., 0].masked_fill(pad, -1e4)
        end = logits[..., 1].masked_fill(pad, -1e4)
        return start, end

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """Every parameter except the frozen word embeddings, as fp16 CPU tensors."""
        return trainable_state(self, FROZEN_KEYS)

    def load_trainable_state(self, tensors: dict[str, torch.Tensor]) -> None:
        """Put saved tensors over the base weights; every saved key must name a parameter of the right shape."""
        load_trainable_state(self, tensors, FROZEN_KEYS, "reader", "python -m rag.training.reader")


def save_weights(model: SpanReader, stem: Path, metadata: dict) -> Path:
    """Write ``<stem>.safetensors`` (fp16, no word embeddings) and ``<stem>.json``; returns the tensor file."""
    return save_partial(model, FROZEN_KEYS, stem, metadata, FORMAT)


def load_metadata(stem: Path) -> dict:
    """The ``.json`` written beside the weights ({} when absent)."""
    path = stem.with_suffix(".json")
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def load_model(stem: Path) -> SpanReader:
    """The reader with the weights saved under ``stem``, in eval mode.

    Raises:
        MissingDependencyError: the weight file is not there.
        ModelFileError: the file does not fit the model.
    """
    tensors = read_partial(
        stem,
        f"reader weights {stem.with_suffix('.safetensors')} are missing: train them with `python -m "
        f"rag.training.reader --data ../shared/data/qa-train --out {stem}` (about 90 minutes on 2 CPU cores)",
    )
    model = SpanReader()
    model.load_trainable_state(tensors)
    return model.eval()
