"""A preallocated key/value cache, written in place at the current position."""

from __future__ import annotations

import numpy as np
import torch

from core.errors import ConfigError
from rag.model.config import LlamaConfig


class KVCache:
    """Keys and values of every layer for up to ``max_len`` positions.

    Keys are stored transposed, (head_dim, position) per head, so that a
    query's scores over all positions are one vectorised loop over positions
    (no horizontal sum per position); values are (position, head_dim).
    The buffers are allocated once with ``torch.empty``: pages that are never
    written are never touched, so a long ``max_len`` costs address space, not
    resident memory. Positions at and after ``length`` hold stale values that
    attention never reads; :meth:`truncate` rolls back (speculative decoding
    discards rejected draft tokens that way) and :meth:`reorder` follows beam
    search's choice of hypotheses.

    The cache alone moves its position: a pass reads :attr:`length` as the
    position of its first token, writes its keys and values there, and then asks
    the cache to :meth:`advance` past them. One owner means a pass that fails
    half-way leaves the position where it was, and no caller can move it by
    assignment.
    """

    def __init__(
        self,
        config: LlamaConfig,
        max_len: int,
        batch: int = 1,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if max_len < 1 or max_len > config.max_seq_len:
            raise ConfigError(f"cache length {max_len} must be in [1, {config.max_seq_len}] (the model's context)")
        shape = (config.n_layers, batch, config.n_kv_heads, max_len, config.head_dim)
        k_shape = (*shape[:3], config.head_dim, max_len)
        self.k = torch.empty(k_shape, device=device, dtype=dtype)  # (L, B, KV, head_dim, max_len)
        self.v = torch.empty(shape, device=device, dtype=dtype)  # (L, B, KV, max_len, head_dim)
        self.max_len = max_len
        self._length = 0  # positions filled, i.e. the position of the next token
        self._arrays: tuple[np.ndarray, np.ndarray] | None = None

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """numpy views of the CPU buffers: keys (L, B, KV, head_dim, max_len), values (L, B, KV, max_len, head_dim)."""
        if self._arrays is None:
            self._arrays = (self.k.numpy(), self.v.numpy())
        return self._arrays

    @property
    def batch(self) -> int:
        return self.k.shape[1]

    @property
    def length(self) -> int:
        """Positions filled, i.e. the position of the next token."""
        return self._length

    def advance(self, n: int) -> None:
        """Count the ``n`` positions from :attr:`length` as filled: a pass that has written them asks for this."""
        self.reserve(self._length + n)
        self._length += n

    def reserve(self, end: int) -> None:
        """Check that positions up to ``end`` (exclusive) fit."""
        if end > self.max_len:
            raise ConfigError(
                f"sequence of {end} tokens exceeds the KV cache of {self.max_len}; raise max_len or shorten the prompt"
            )

    def update(self, layer: int, start: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write this step's keys/values at ``start`` and return all of them so far.

        Args:
            layer: the layer index.
            start: position of the first of the T new tokens.
            k, v: float32 (B, n_kv_heads, T, head_dim).
        Returns:
            keys, values: views (B, n_kv_heads, start + T, head_dim).
        """
        end = start + k.shape[2]
        self.reserve(end)
        self.k[layer, :, :, :, start:end] = k.transpose(-1, -2)
        self.v[layer, :, :, start:end] = v
        return self.k[layer, :, :, :, :end].transpose(-1, -2), self.v[layer, :, :, :end]

    def truncate(self, length: int) -> None:
        """Forget every position at and after ``length``."""
        self._length = min(self._length, length)

    def reorder(self, rows: torch.Tensor) -> None:
        """Keep batch rows ``rows`` (int64 (B,)), e.g. the parents of the surviving beams."""
        end = self._length
        self.k[..., :end] = self.k[:, rows, ..., :end]
        self.v[:, :, :, :end] = self.v[:, rows, :, :end]

    def nbytes(self) -> int:
        """Bytes the cache holds for the filled positions (what is resident)."""
        per_position = self.v[:, :, :, :1].numel() * self.v.element_size() * 2
        return per_position * self._length

    def expand(self, batch: int) -> KVCache:
        """A cache of ``batch`` rows, each a copy of this one-row cache (beam search after the prefill)."""
        if self.batch != 1:
            raise ConfigError("only a one-row cache can be expanded")
        out = KVCache.__new__(KVCache)
        shape = list(self.v.shape)
        shape[1] = batch
        out.k = torch.empty((*shape[:3], *self.k.shape[3:]), dtype=self.k.dtype, device=self.k.device)
        out.v = torch.empty(shape, dtype=self.v.dtype, device=self.v.device)
        end = self._length
        out.k[..., :end] = self.k[..., :end]
        out.v[:, :, :, :end] = self.v[:, :, :, :end]
        out.max_len, out._length, out._arrays = self.max_len, end, None
        return out
