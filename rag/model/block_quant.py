"""The 8-bit block layer: Q5_K and Q6_K weights kept as their integers, exactly.

These formats' values fit int8 (Q5: 0..31, Q6_K: -32..31) but their scales do
not fit the 32-value group layers of :mod:`rag.model.group_quant`: Q6_K scales
each 16 values, and the K-quants keep an integer scale and minimum per group
under a half-precision scale per 256 values. :class:`Int8BlockLinear` keeps all
of them as stored (``w = d * sc * q - dmin * mn``, see
:mod:`rag.model.quants.groups`), so a weight is what the file says, bit for
bit, at 8.9 bits per value (Q6_K files hold 6.6, Q5_K 5.5): 32 bytes of ``q``,
2 of ``sc``, 1 of ``mn`` per group, 4 bytes of half scales per block.
Kernels: :mod:`rag.model.block_kernels`.
"""

from __future__ import annotations

import numpy as np
import torch

from rag.model.block_kernels import block_dequantize, block_matmul, block_rows
from rag.model.group_quant import GroupQuantLinear, _tiles
from rag.model.half import to_half
from rag.model.quants import QK, QuantGroups
from rag.model.tile_kernels import TILE


class Int8BlockLinear(GroupQuantLinear):
    """int8 values, int8 scales per 16 and minimums per 32, half scales per block; also a tied embedding."""

    def __init__(self, groups: QuantGroups) -> None:
        super().__init__()
        rows, g, _ = groups.q.shape
        self.out_features, self.in_features = rows, g * QK
        sc = groups.sc if groups.sc.shape[2] == 2 else np.repeat(groups.sc, 2, axis=2)
        mn = groups.mn if groups.mn is not None else np.zeros((rows, g), np.int8)
        dmin = groups.dmin if groups.dmin is not None else np.zeros_like(groups.d)
        self.q, self.sc, self.mn = _tiles(groups.q), _tiles(sc), _tiles(mn)
        self.d, self.dmin = _tiles(to_half(groups.d)), _tiles(to_half(dmin))

    @classmethod
    def from_groups(cls, groups: QuantGroups) -> Int8BlockLinear:
        """From any groups whose values fit int8 (Q5_K, Q6_K; the others too): exact."""
        return cls(groups)

    def _dequantize_tiles(self, tiles: slice) -> np.ndarray:
        q = self.q[tiles]
        out = np.empty((q.shape[0] * TILE, self.in_features), np.float32)
        block_dequantize(q, self.sc[tiles], self.mn[tiles], self.d[tiles], self.dmin[tiles], out)
        return out

    def _kernel(self, x: np.ndarray, out: np.ndarray) -> None:
        block_matmul(self.q, self.sc, self.mn, self.d, self.dmin, x, out)

    def rows(self, ids: torch.Tensor) -> torch.Tensor:
        """Dequantized rows: int64 (...) -> float32 (..., in_features); the embedding lookup."""
        flat = np.ascontiguousarray(ids.reshape(-1).numpy(), dtype=np.int64)
        out = np.empty((flat.shape[0], self.in_features), np.float32)
        block_rows(self.q, self.sc, self.mn, self.d, self.dmin, flat, out)
        return torch.from_numpy(out.reshape(*ids.shape, self.in_features))

    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.q, self.sc, self.mn, self.d, self.dmin))
