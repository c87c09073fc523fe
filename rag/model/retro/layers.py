"""The trainable parts: the neighbour encoder and the chunked cross-attention (CCA) module.

Both are small fp32 torch modules; the decoder they are attached to stays frozen
and quantized. Read with :mod:`rag.model.retro.context`, which supplies what a
CCA module attends to.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from rag.model.retro.config import RetroConfig
from rag.model.retro.context import RetroContext


class NeighbourEncoder(nn.Module):
    """Neighbour tokens' frozen decoder states -> keys and values for the cross-attention.

    Input: the residual stream of the frozen decoder after ``encoder_base_layers``
    layers over each neighbour (the decoder's own embeddings and early layers, as
    RETRO shares its embedding matrix between encoder and decoder). On top: a
    projection to ``encoder_dim``, learned positions and ``encoder_layers``
    bidirectional transformer layers (every neighbour token sees every other one
    of its neighbour). Simplification of the paper, stated: the encoder is not
    conditioned on the decoder's hidden states of the chunk, so a neighbour is
    encoded once, whatever text retrieved it.
    """

    def __init__(self, config: RetroConfig, model_dim: int) -> None:
        super().__init__()
        d = config.encoder_dim
        # The decoder's residual stream has a large component shared by every token (mean cosine 0.52 between
        # tokens at layer 4 of SmolLM2 after LayerNorm, 0.10 for the embeddings): subtracting its mean over
        # training text (set by Retrofit.calibrate) leaves what tells tokens apart.
        self.register_buffer("center", torch.zeros(model_dim))
        self.norm_in = nn.LayerNorm(model_dim)
        self.proj = nn.Linear(model_dim, d)
        self.positions = nn.Parameter(torch.randn(config.neighbour_len, d) * 0.02)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(d, config.encoder_heads, 2 * d, dropout=0.0, batch_first=True, norm_first=True)
            for _ in range(config.encoder_layers)
        )
        self.norm_out = nn.LayerNorm(d)

    def forward(self, hidden: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """(N, r, model_dim) states and (N, r) bool (True: a real token) -> (N, r, encoder_dim)."""
        x = self.proj(self.norm_in(hidden - self.center)) + self.positions[: hidden.shape[1]]
        pad = ~valid
        pad[:, 0] = False  # an empty neighbour still has one (masked-out) key, so attention stays finite
        for layer in self.layers:
            x = layer(x, src_key_padding_mask=pad)
        return self.norm_out(x)


class ChunkedCrossAttention(nn.Module):
    """RETRO's CCA: each token attends to the encoded neighbours of the chunk its position is shifted to.

    The token at position p attends to the neighbours of chunk ``config.attended_chunk(p)``
    (none before position m - 1). The output is multiplied by ``tanh(gate)``, with the
    gate initialised to zero, so an untrained module leaves the decoder exactly as it was.
    """

    def __init__(self, config: RetroConfig, model_dim: int, layer: int) -> None:
        super().__init__()
        self.config, self.layer = config, layer
        inner = config.heads * config.head_dim
        self.register_buffer("center", torch.zeros(model_dim))  # the residual stream's mean (see NeighbourEncoder)
        self.calibrating: list[torch.Tensor] | None = None  # Retrofit.cca_inputs collects inputs here
        self.norm = nn.RMSNorm(model_dim, eps=1e-5)
        self.wq = nn.Linear(model_dim, inner, bias=False)
        self.wkv = nn.Linear(config.encoder_dim, 2 * inner, bias=False)
        self.wo = nn.Linear(inner, model_dim, bias=False)
        nn.init.normal_(self.wo.weight, std=0.02 / math.sqrt(2 * len(config.layers)))
        self.gate = nn.Parameter(torch.zeros(()))

    def forward(self, h: torch.Tensor, context: object) -> torch.Tensor:
        """h: (B, T, dim), the residual stream after self-attention; returns what is added to it."""
        if self.calibrating is not None:
            self.calibrating.append(h.detach().reshape(-1, h.shape[-1]))
        out = torch.zeros_like(h)
        if not isinstance(context, RetroContext):
            return out
        m, T = self.config.chunk, h.shape[1]
        p = context.start
        while p < context.start + T:
            chunk = self.config.attended_chunk(p)
            end = min(context.start + T, (chunk + 2) * m - 1)  # the first position that attends the next chunk
            memory = context.memory(chunk) if chunk >= 0 else None
            if memory is not None:
                lo, hi = p - context.start, end - context.start
                out[:, lo:hi] = self._attend(h[:, lo:hi], memory, context, chunk)
            p = end
        return torch.tanh(self.gate) * out

    def query(self, h: torch.Tensor) -> torch.Tensor:
        """(..., dim) residual stream -> (..., heads * head_dim) queries."""
        return self.wq(self.norm(h - self.center))

    def _attend(self, h: torch.Tensor, memory, context, chunk: int) -> torch.Tensor:
        B, n, _ = h.shape
        H, hd = self.config.heads, self.config.head_dim
        states, valid = memory  # (B, N, encoder_dim), (B, N) bool
        q = self.query(h).view(B, n, H, hd).transpose(1, 2)  # (B, H, n, hd)
        kv = self.wkv(states).view(B, -1, 2, H, hd)
        k, v = kv[:, :, 0], kv[:, :, 1]  # (B, N, H, hd)
        s = self.config.value_shift
        if s:  # within each neighbour, key j reads value j + s; keys without a value j + s are masked out
            r = self.config.neighbour_len
            v = F.pad(v.reshape(B, -1, r, H, hd)[:, :, s:], (0, 0, 0, 0, 0, s)).reshape(B, -1, H, hd)
            per = valid.reshape(B, -1, r)
            valid = (per & F.pad(per[:, :, s:], (0, s), value=False)).reshape(B, -1)
        k, v = k.transpose(1, 2), v.transpose(1, 2)  # (B, H, N, hd)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(hd)  # (B, H, n, N)
        scores = scores.masked_fill(~valid[:, None, None, :], float("-inf"))
        weights = torch.nan_to_num(F.softmax(scores, dim=-1), nan=0.0)  # a row with no valid key attends nothing
        if context.record:
            context.note_attention(chunk, weights.detach().mean(1).sum(1))  # (B, N): attention mass per key
        return self.wo((weights @ v).transpose(1, 2).reshape(B, n, H * hd))
