"""A BERT encoder in plain torch that loads the packaged all-MiniLM-L6-v2 without transformers.

Loading MiniLM through ``transformers`` (or ``sentence_transformers``) imports
``torch._dynamo`` (and with it sympy, pandas and scikit-learn), accelerate and
the Hugging Face hub: 221 MB of a server's resident memory on a 2-core AMD EPYC
(benchmarks/README.md, "Server memory"), for a model of 22M parameters. This
module is the encoder alone, read bottom-up, with the module and parameter
names of ``transformers``' ``BertModel`` (``encoder.layer.0.attention.self.query``...),
so its state dict, the fine-tuned weights saved from it and in-place layer swaps
(:func:`ingest.embed.bf16.fuse_bert_layers`) work unchanged.

    model = load_bert(model_dir())                        # fp32, eval mode
    hidden = model(ids, mask, token_type_ids)[0]          # (B, T, hidden)
"""

from __future__ import annotations

import json
import math
import mmap
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn


class BertConfig(NamedTuple):
    """The fields of a Hugging Face BERT ``config.json`` this encoder uses."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float
    hidden_act: str = "gelu"  # erf GELU, as BERT's ACT2FN["gelu"]
    hidden_dropout_prob: float = 0.1  # training only (the reader and reranker are fine-tuned from this encoder)
    attention_probs_dropout_prob: float = 0.1

    @classmethod
    def from_file(cls, path: Path) -> BertConfig:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(**{k: raw[k] for k in cls._fields if k in raw})


class BertOutput(NamedTuple):
    """What the encoder returns: ``[0]`` or ``.last_hidden_state``, as from ``transformers``."""

    last_hidden_state: torch.Tensor  # (B, T, hidden)


def _table(rows: int, width: int, padding_idx: int | None = None) -> nn.Embedding:
    return nn.Embedding(rows, width, padding_idx=padding_idx, _weight=torch.empty(rows, width))


class Embeddings(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        # uninitialised (_weight): load_bert assigns the file's tables, and a random init of 12M rows would touch
        # 47 MB (on "meta" it would import torch._dynamo)
        self.word_embeddings = _table(c.vocab_size, c.hidden_size, padding_idx=0)
        self.position_embeddings = _table(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = _table(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)  # (T,)
        # the word table may be float32 in a bf16 model (load_bert): its rows are rounded as the table would be
        words = self.word_embeddings(input_ids).to(self.token_type_embeddings.weight.dtype)
        x = words + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(x + self.position_embeddings(positions)))  # (B, T, H)


class SelfAttention(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.heads, self.head_dim = c.num_attention_heads, c.hidden_size // c.num_attention_heads
        self.dropout_p = c.attention_probs_dropout_prob
        self.query = nn.Linear(c.hidden_size, c.hidden_size)
        self.key = nn.Linear(c.hidden_size, c.hidden_size)
        self.value = nn.Linear(c.hidden_size, c.hidden_size)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        b, t, h = x.shape

        def split(y: torch.Tensor) -> torch.Tensor:  # (B, T, H) -> (B, heads, T, head_dim)
            return y.view(b, t, self.heads, self.head_dim).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        dropout = self.dropout_p if self.training else 0.0
        out = nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=keep, dropout_p=dropout, scale=1 / math.sqrt(self.head_dim)
        )
        return out.transpose(1, 2).reshape(b, t, h)


class SelfOutput(nn.Module):
    """LayerNorm(dense(x) + residual): after attention, and (as ``output``) after the feed-forward."""

    def __init__(self, c: BertConfig, width: int) -> None:
        super().__init__()
        self.dense = nn.Linear(width, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, input_tensor: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + input_tensor)


class Attention(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.self = SelfAttention(c)
        self.output = SelfOutput(c, c.hidden_size)


class Intermediate(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return nn.functional.gelu(self.dense(hidden_states))


class Layer(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.attention = Attention(c)
        self.intermediate = Intermediate(c)
        self.output = SelfOutput(c, c.intermediate_size)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        attended = self.attention.output(self.attention.self(x, keep), x)
        return self.output(self.intermediate(attended), attended)


class Encoder(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(Layer(c) for _ in range(c.num_hidden_layers))


class BertEncoder(nn.Module):
    """BERT without its pooler: token ids in, the last hidden state out."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        self.embeddings = Embeddings(config)
        self.encoder = Encoder(config)

    @property
    def device(self) -> torch.device:
        return self.embeddings.word_embeddings.weight.device

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> BertOutput:
        """``input_ids``, ``attention_mask`` (1 keeps a token, 0 is padding) and ``token_type_ids``, int (B, T)."""
        types = torch.zeros_like(input_ids) if token_type_ids is None else token_type_ids
        x = self.embeddings(input_ids, types)
        keep = attention_mask.bool()[:, None, None, :]  # (B, 1, 1, T): padding is never attended to
        for layer in self.encoder.layer:
            x = layer(x, keep)
        return BertOutput(x)


DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64}


def map_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, backed by a private (copy-on-write) map of it: pages not written are
    the page cache's, so models that read the same file (the embedder, the reader, the MaxSim scorer all start
    from MiniLM's) hold one resident copy of what they leave unchanged."""
    with path.open("rb") as f:
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
    n = int.from_bytes(mapped[:8], "little")
    header = json.loads(mapped[8 : 8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        flat = (
            torch.frombuffer(
                mapped, dtype=DTYPES[info["dtype"]], count=math.prod(info["shape"]) or 0, offset=8 + n + start
            )
            if end > start
            else torch.empty(0, dtype=DTYPES[info["dtype"]])
        )
        out[name] = flat.view(info["shape"])
    return out


WORD_EMBEDDINGS = "embeddings.word_embeddings.weight"


@lru_cache(maxsize=4)
def shared_map(path: Path) -> dict[str, torch.Tensor]:
    """:func:`map_safetensors` of ``path``, one map per process: what every model loaded from the file reads
    and never writes (the word embeddings; training freezes them)."""
    return map_safetensors(path)


def load_bert(path: Path, dtype: torch.dtype = torch.float32) -> BertEncoder:
    """The encoder of the BERT checkpoint in directory ``path`` (``config.json``, ``model.safetensors``), in
    ``dtype`` and eval mode. Keys the encoder lacks (the pooler, ``position_ids``) are ignored; a missing one
    raises.

    The word embeddings (30522 x 384 for MiniLM, 47 MB in float32) stay float32 on one map of the file per
    process (:func:`shared_map`), whatever ``dtype``: a lookup reads only the rows of the tokens it meets,
    rounded to ``dtype`` as a converted table would be, and the embedder, the span reader and the MaxSim
    scorer hold one resident copy of the rows they read. In float32 the other weights stay on a private map
    of the file, which in-place training writes (copy-on-write) without touching the file or another model.
    """
    with torch.device("meta"):  # no memory and no random init: every tensor is assigned from the file
        model = BertEncoder(BertConfig.from_file(path / "config.json"))
    tensors = map_safetensors(path / "model.safetensors")
    state = {k: v.to(dtype) for k, v in tensors.items() if k in model.state_dict() and k != WORD_EMBEDDINGS}
    state[WORD_EMBEDDINGS] = shared_map(path / "model.safetensors")[WORD_EMBEDDINGS]
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval()
