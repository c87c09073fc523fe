"""Group-quantized linear layers run by numba kernels: 4-bit and 8-bit groups of 32.

Weights keep the GGUF's own integers (:class:`~rag.model.quants.QuantGroups`),
so nothing is re-quantized: a group of 32 values of a row has a scale ``d``
and, for 4-bit, a minimum ``m``: ``w = d * q + m`` (q in 0..15: Q4_0, Q4_1,
Q4_K) or ``w = d * q`` (q in -127..127: Q8_0). Scales are half
precision (:mod:`rag.model.half`): the file's own for the 32-value formats,
the product of the block's half scale and the group's 6-bit one for Q4_K
(rounded to half). Q5_0 and Q5_1: :mod:`rag.model.q5_quant`; the other
K-quants: :mod:`rag.model.block_quant`.

Layout and kernels: :mod:`rag.model.tile_kernels` (64-row tiles stored
transposed, activations quantized per group of 32 to int8, exact 16-bit
sums, a row's output the same whether it is multiplied alone or among others);
8-bit groups keep words of 4 consecutive values offset to unsigned bytes in
those tiles, for VNNI's byte products (:mod:`rag.model.q8_kernels`).
Inputs of up to ``_GEMV_MAX_ROWS`` rows take those kernels; longer inputs
(prefill) are compute-bound and go through a float32 copy of the weight and
BLAS instead.

Threads: these kernels (the int8 and fp32 modes, beams) run on numba's pool.
Decoding an int4 model goes through :mod:`rag.model.step` instead, whose
runner (:mod:`rag.model.decode_step`) uses the pool only while it is measured
to pay and the other CPUs are idle.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rag.model.half import from_half, to_half
from rag.model.q8_kernels import from_words, q8w_dequantize, q8w_matmul, to_words
from rag.model.quants import QK, QuantGroups
from rag.model.tile_kernels import TILE, q4_dequantize, q4_matmul

_GEMV_MAX_ROWS = 16
_BLAS_TILES = 128  # long inputs multiply by 8192 dequantized weight rows at a time (19 MB at dim 576)


def quantize_q8_groups(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float32 (rows, cols) -> q int8 (rows, cols // 32, 32), d float32 (rows, cols // 32); symmetric."""
    g = weight.reshape(weight.shape[0], -1, QK)
    d = (np.abs(g).max(axis=2) / 127.0).astype(np.float32)
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d > 0)
    return np.rint(g * inv[..., None]).astype(np.int8), d


def _tiles(a: np.ndarray) -> np.ndarray:
    """(N, G, ...) -> (ceil(N / TILE), G, ..., TILE), zero-padding the rows."""
    n = a.shape[0]
    pad = -n % TILE
    if pad:
        a = np.concatenate([a, np.zeros((pad, *a.shape[1:]), a.dtype)])
    a = a.reshape(-1, TILE, *a.shape[1:])  # (NT, TILE, G, ...)
    return np.ascontiguousarray(np.moveaxis(a, 1, -1))


class GroupQuantLinear(nn.Module, ABC):
    """Shared plumbing: shapes, the small-input kernel path and the large-input BLAS path."""

    out_features: int
    in_features: int
    d: np.ndarray  # uint16 (NT, G, TILE): group scales as half-precision bits

    @abstractmethod
    def _dequantize_tiles(self, tiles: slice) -> np.ndarray:
        """Rows of the tiles ``tiles`` as float32 (n_tiles * TILE, in), padding rows included."""

    def dequantize(self) -> torch.Tensor:
        """The weight as float32 (out, in)."""
        return torch.from_numpy(self._dequantize_tiles(slice(None))[: self.out_features])

    @abstractmethod
    def _kernel(self, x: np.ndarray, out: np.ndarray) -> None:
        """out (M, padded rows) = x (M, in) times the weight, by the numba kernel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x2 = x.reshape(-1, self.in_features)
        if x.requires_grad:  # autograd for training
            return F.linear(x, self.dequantize())
        if x2.shape[0] > _GEMV_MAX_ROWS:  # BLAS for long inputs, a block of output rows at a time
            out = torch.empty(x2.shape[0], self.out_features)
            for t0 in range(0, self.d.shape[0], _BLAS_TILES):
                r0, r1 = t0 * TILE, min((t0 + _BLAS_TILES) * TILE, self.out_features)
                w = torch.from_numpy(self._dequantize_tiles(slice(t0, t0 + _BLAS_TILES)))
                torch.mm(x2, w[: r1 - r0].t(), out=out[:, r0:r1])
            return out.reshape(*x.shape[:-1], self.out_features)
        rows = self.d.shape[0] * TILE  # out_features rounded up to whole tiles
        out = torch.empty(x2.shape[0], rows)
        self._kernel(x2.contiguous().numpy(), out.numpy())
        if rows != self.out_features:
            out = out[:, : self.out_features]
        return out.reshape(*x.shape[:-1], self.out_features)


class Int4Linear(GroupQuantLinear):
    """4-bit weights, groups of 32 with a scale and a minimum each (ggml Q4_1; Q4_0 and Q4_K repacked)."""

    def __init__(self, nibbles: np.ndarray, d: np.ndarray, m: np.ndarray) -> None:
        """Args: nibbles uint8 (out, in // 32, 16); d, m float32 (out, in // 32)."""
        super().__init__()
        self.out_features, groups = d.shape
        self.in_features = groups * QK
        self.q, self.d, self.m = _tiles(nibbles), _tiles(to_half(d)), _tiles(to_half(m))

    @classmethod
    def from_groups(cls, groups: QuantGroups) -> Int4Linear:
        """From 4-bit groups (Q4_0, Q4_1, Q4_K) with one scale per group.

        The group's scale ``d * sc`` and minimum become half precision: exact for Q4_0
        and Q4_1; for Q4_K a product of a half and a 6-bit integer is rounded to 11 bits
        (a relative change of at most 2^-12 of the group's scale).
        """
        if groups.sc.shape[2] != 1:
            raise ValueError("Int4Linear takes one scale per group of 32")
        d = groups.group_scales()[..., 0]
        mins = groups.group_mins()
        q = groups.q
        if mins is None:  # symmetric (Q4_0): values -8..7 become 0..15 under a minimum of -8 d
            q, m = (q + 8).astype(np.uint8), d * np.float32(-8.0)
        else:
            q, m = q.astype(np.uint8), -mins
        if q.size and (q.max() > 15 or q.min() < 0):
            raise ValueError("Int4Linear takes values of 4 bits")
        return cls(q[..., :16] | (q[..., 16:] << 4), d, m)

    @classmethod
    def from_float(cls, weight: np.ndarray) -> Int4Linear:
        """Quantize float32 (out, in) to groups of 32: d = (max - min) / 15, m = min."""
        g = weight.reshape(weight.shape[0], -1, QK)
        lo, hi = g.min(axis=2), g.max(axis=2)
        d = ((hi - lo) / 15.0).astype(np.float32)
        inv = np.divide(1.0, d, out=np.zeros_like(d), where=d > 0)
        q = np.clip(np.rint((g - lo[..., None]) * inv[..., None]), 0, 15).astype(np.uint8)
        return cls(q[..., :16] | (q[..., 16:] << 4), d, lo.astype(np.float32))

    def rows(self, ids: torch.Tensor) -> torch.Tensor:
        """Dequantized rows: int64 (...) -> float32 (..., in_features); the embedding lookup."""
        flat = ids.reshape(-1).numpy()
        tile, pos = flat // TILE, flat % TILE
        b = self.q[tile, :, :, pos]  # (n, G, 16)
        q = np.concatenate([b & 15, b >> 4], axis=2).astype(np.float32)  # (n, G, 32)
        w = q * from_half(self.d[tile, :, pos])[..., None] + from_half(self.m[tile, :, pos])[..., None]
        return torch.from_numpy(w.reshape(*ids.shape, self.in_features))

    def _dequantize_tiles(self, tiles: slice) -> np.ndarray:
        q, d, m = self.q[tiles], self.d[tiles], self.m[tiles]
        out = np.empty((d.shape[0] * TILE, self.in_features), np.float32)
        q4_dequantize(q, d, m, out)
        return out

    def _kernel(self, x: np.ndarray, out: np.ndarray) -> None:
        q4_matmul(self.q, self.d, self.m, x, out)

    def nbytes(self) -> int:
        return self.q.nbytes + self.d.nbytes + self.m.nbytes


class Int8GroupLinear(GroupQuantLinear):
    """8-bit weights, groups of 32 with a scale each (ggml Q8_0); also serves as a tied embedding."""

    def __init__(self, q: np.ndarray, d: np.ndarray) -> None:
        """Args: q int8 (out, in // 32, 32); d float32 (out, in // 32).

        Kept as ``q`` uint8 (NT, G, 8, TILE, 4): words of 4 values offset by 128 (:func:`to_words`).
        """
        super().__init__()
        self.out_features, groups = d.shape
        self.in_features = groups * QK
        self.q, self.d = to_words(q), _tiles(to_half(d))

    @classmethod
    def from_groups(cls, groups: QuantGroups) -> Int8GroupLinear:
        """From symmetric groups with one scale per group and no block scale (Q8_0; Q5_0 too): exact."""
        if groups.sc.shape[2] != 1 or groups.per != 1 or groups.mn is not None:
            raise ValueError("Int8GroupLinear takes symmetric groups with one scale each")
        return cls(groups.q, groups.group_scales()[..., 0])

    @classmethod
    def from_int8_rows(cls, q: np.ndarray, scale: np.ndarray) -> Int8GroupLinear:
        """From int8 (out, in) with one scale per output channel (out,).

        The kernel takes a scale per group, so the row's scale is repeated for
        each of its groups (4 bytes per 32 weights).
        """
        out, cols = q.shape
        d = np.repeat(scale.astype(np.float32)[:, None], cols // QK, axis=1)
        return cls(q.reshape(out, cols // QK, QK), d)

    @classmethod
    def from_float(cls, chunks: list[np.ndarray]) -> Int8GroupLinear:
        """Quantize a float32 weight, given as consecutive row blocks (rows, in), per group of 32."""
        q, d = zip(*(quantize_q8_groups(c) for c in chunks))
        return cls(np.concatenate(q), np.concatenate(d))

    def rows(self, ids: torch.Tensor) -> torch.Tensor:
        """Dequantized rows: int64 (...) -> float32 (..., in_features); the embedding lookup."""
        flat = ids.reshape(-1).numpy()
        tile, pos = flat // TILE, flat % TILE
        q = from_words(self.q[tile, :, :, pos]).astype(np.float32)  # (n, G, 32)
        w = q * from_half(self.d[tile, :, pos])[..., None]
        return torch.from_numpy(w.reshape(*ids.shape, self.in_features))

    def _dequantize_tiles(self, tiles: slice) -> np.ndarray:
        q, d = self.q[tiles], self.d[tiles]
        out = np.empty((d.shape[0] * TILE, self.in_features), np.float32)
        q8w_dequantize(q, d, out)
        return out

    def _kernel(self, x: np.ndarray, out: np.ndarray) -> None:
        q8w_matmul(self.q, self.d, x, out)

    def nbytes(self) -> int:
        return self.q.nbytes + self.d.nbytes


class GroupEmbedding(nn.Module):
    """Token embedding that reads the rows of a (tied) quantized layer: any with a ``rows(ids)`` method."""

    def __init__(self, table: nn.Module) -> None:
        super().__init__()
        self.table = table

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """int64 (B, T) -> float32 (B, T, dim)."""
        return self.table.rows(tokens)

    def nbytes(self) -> int:
        return 0  # the table is counted once, as the output layer


class RowConcat(nn.Module):
    """A linear layer made of parts stacked along the output rows, each its own kind of layer.

    A fused projection whose tensors are stored in different types (a Q4_K_M file's
    Q4_K ``attn_q`` and Q6_K ``attn_v``) keeps each part in its own kernel.
    """

    def __init__(self, parts: list[nn.Module]) -> None:
        super().__init__()
        self.parts = nn.ModuleList(parts)
        self.in_features = parts[0].in_features
        self.out_features = sum(p.out_features for p in parts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([p(x) for p in self.parts], dim=-1)

    def dequantize(self) -> torch.Tensor:
        """The weight as float32 (out, in)."""
        return torch.cat([p.dequantize() for p in self.parts])
