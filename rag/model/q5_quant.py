"""The 5-bit group layer: Q5_0 and Q5_1 weights kept as the file holds them, at 5.5 and 6 bits a weight.

A Q4_K_M file falls back to Q5_0 for every matrix whose rows are not a
multiple of 256 values (all of a 896-wide Qwen 2.5 0.5B's but ``ffn_down``);
held as int8 groups they took 8.5 bits a weight, and decoding, which reads
every weight once a token, is bound by those bytes. :class:`Int5GroupLinear`
keeps each group's 16 nibble bytes, its 32 fifth bits (inverted, as two 16-bit
words), its half scale and, for Q5_1, its half minimum, in the 64-row tiles of
:mod:`rag.model.tile_kernels`. Weights are the file's, bit for bit.
Kernels: :mod:`rag.model.q5_kernels`.
"""

from __future__ import annotations

import numpy as np
import torch

from rag.model.group_quant import GroupQuantLinear, _tiles
from rag.model.half import from_half, to_half
from rag.model.q5_kernels import q5_dequantize, q5_matmul
from rag.model.quants import QK, QuantGroups
from rag.model.tile_kernels import TILE

_BIT = np.uint16(1) << np.arange(16, dtype=np.uint16)  # bit j of a word: value j of its half group


class Int5GroupLinear(GroupQuantLinear):
    """5-bit values, groups of 32 with a half scale (Q5_0: ``w = d * v``) and a half minimum (Q5_1: ``+ m``)."""

    def __init__(self, v: np.ndarray, d: np.ndarray, m: np.ndarray | None = None) -> None:
        """Args: v int8 (out, in // 32, 32) in -16..15; d float32 (out, in // 32); m likewise, or None (Q5_0).

        Q5_1's ``w = d * u + m`` with ``u`` in 0..31 is passed as ``v = u - 16``.
        """
        super().__init__()
        self.out_features, groups = d.shape
        self.in_features = groups * QK
        u = (v.astype(np.int16) + 16).astype(np.uint8)  # 0..31
        self.q = _tiles(u[..., :16] & 15 | (u[..., 16:] & 15) << 4)  # uint8 (NT, G, 16, TILE)
        low = (u < 16).astype(np.uint16).reshape(*u.shape[:2], 2, 16)  # the inverted fifth bits
        self.h = _tiles((low * _BIT).sum(axis=3, dtype=np.uint16))  # uint16 (NT, G, 2, TILE)
        self.d = _tiles(to_half(d))
        self.m = _tiles(to_half(m)) if m is not None else np.zeros((*self.d.shape[:1], 0, TILE), np.uint16)

    @classmethod
    def from_groups(cls, groups: QuantGroups) -> Int5GroupLinear:
        """From Q5_0 (values -16..15, no minimum) or Q5_1 groups (values 0..31, a minimum each): exact."""
        if groups.sc.shape[2] != 1 or groups.per != 1 or np.any(groups.sc != 1):
            raise ValueError("Int5GroupLinear takes groups of 32 with one float scale each")
        mins = groups.group_mins()
        v = groups.q if mins is None else groups.q - np.int8(16)
        if groups.mn is not None and np.any(groups.mn != 1):
            raise ValueError("Int5GroupLinear takes one float minimum per group")
        if v.size and (v.min() < -16 or v.max() > 15):
            raise ValueError("Int5GroupLinear takes values of 5 bits")
        return cls(v, groups.d, None if mins is None else -mins)

    @property
    def symmetric(self) -> bool:
        """Whether the groups have no minimum (Q5_0)."""
        return self.m.shape[1] == 0

    def rows(self, ids: torch.Tensor) -> torch.Tensor:
        """Dequantized rows: int64 (...) -> float32 (..., in_features); the embedding lookup."""
        flat = ids.reshape(-1).numpy()
        tile, pos = flat // TILE, flat % TILE
        b = self.q[tile, :, :, pos]  # (n, G, 16)
        low = (self.h[tile, :, :, pos][..., None] & _BIT) != 0  # (n, G, 2, 16)
        v = np.concatenate([b & 15, b >> 4], axis=2).astype(np.int16) - 16 * low.reshape(b.shape[0], -1, QK)
        d = from_half(self.d[tile, :, pos])[..., None]
        if self.symmetric:
            w = d * v.astype(np.float32)
        else:
            w = d * (v + 16).astype(np.float32) + from_half(self.m[tile, :, pos])[..., None]
        return torch.from_numpy(w.reshape(*ids.shape, self.in_features))

    def _dequantize_tiles(self, tiles: slice) -> np.ndarray:
        q, d = self.q[tiles], self.d[tiles]
        out = np.empty((d.shape[0] * TILE, self.in_features), np.float32)
        q5_dequantize(q, self.h[tiles], d, self.m[tiles], out)
        return out

    def _kernel(self, x: np.ndarray, out: np.ndarray) -> None:
        q5_matmul(self.q, self.h, self.d, self.m, x, out)

    def nbytes(self) -> int:
        return self.q.nbytes + self.h.nbytes + self.d.nbytes + self.m.nbytes
