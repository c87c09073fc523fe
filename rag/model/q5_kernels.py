"""numba kernels of the 5-bit group layer (:class:`rag.model.group_quant.Int5GroupLinear`): Q5_0 and Q5_1 as stored.

A group of 32 values keeps what the file keeps: 16 bytes of low nibbles (byte
``j`` holds value ``j`` low and value ``j + 16`` high), a plane of fifth bits,
a half-precision scale ``d`` and, for Q5_1, a half minimum ``m``: 22 or 24
bytes per 32 values (5.5 or 6 bits a weight, against 8.5 for int8 groups).
The fifth bits are kept inverted, as two 16-bit words per group and row
(``h[tile, group, 0, row]`` for values 0..15, ``[..., 1, row]`` for 16..31),
so a value ``u`` in 0..31 is read as the signed ``v = u - 16 = nibble - 16 * bit``
(a shift, a mask and a subtraction, all in 16-bit lanes); then
``w = d * v`` for Q5_0 and ``w = d * (v + 16) + m`` for Q5_1.

The layout and arithmetic are those of :mod:`rag.model.tile_kernels`: 64-row
tiles stored transposed (the innermost loops run over 64 adjacent rows and
vectorise), activations quantized per group of 32 to int8 once per product,
exact integer sums: ``|v| <= 16`` and ``|x| <= 127``, so a pair of products
summed over 8 pairs is at most 32512 and fits int16. Q5_0's sums are those of
the int8 group kernel on the same integers, so its outputs are too, bit for
bit. Each token row is computed by the same single-row code whatever the
number of rows, so a row's result does not depend on how many rows share a call.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from rag.model.half import widen
from rag.model.tile_kernels import quantize_activations


@numba.njit(fastmath=True, cache=True, nogil=True)
def q5_tile(q, h, d, m, xq, xd, xs, t, i, s1, s2, acc, dd, col, out) -> None:  # noqa: ANN001
    # Token row i times tile t: out[i, col + t*TILE : col + (t+1)*TILE]. The fifth bit of value j sits at bit j
    # of its word; (word >> (j - 4)) & 16 brings it to 16 * bit, unpacked in the loop that multiplies.
    _, G, _, TL = q.shape
    asym = m.shape[1] > 0
    for n in range(TL):
        acc[n] = 0
    for g in range(G):
        for n in range(TL):
            s1[n] = 0
            s2[n] = 0
        for j in range(8):
            xa = np.int16(xq[i, g * 32 + j])
            xb = np.int16(xq[i, g * 32 + j + 16])
            for n in range(TL):
                b = np.int16(q[t, g, j, n])
                lo = (b & 15) - ((np.int16(h[t, g, 0, n]) >> j << 4) & 16)
                hi = (b >> 4) - ((np.int16(h[t, g, 1, n]) >> j << 4) & 16)
                s1[n] += lo * xa + hi * xb
        for j in range(8, 16):
            xa = np.int16(xq[i, g * 32 + j])
            xb = np.int16(xq[i, g * 32 + j + 16])
            for n in range(TL):
                b = np.int16(q[t, g, j, n])
                lo = (b & 15) - ((np.int16(h[t, g, 0, n]) >> j << 4) & 16)
                hi = (b >> 4) - ((np.int16(h[t, g, 1, n]) >> j << 4) & 16)
                s2[n] += lo * xa + hi * xb
        dx = xd[i, g]
        for n in range(TL):
            dd[n] = widen(d[t, g, n])
        if asym:  # Q5_1: sum (v + 16) x = sum v x + 16 sum x, exact in int32
            total = 0
            for j in range(32):
                total += np.int32(xq[i, g * 32 + j])
            sx = xs[i, g]
            for n in range(TL):
                s = np.float32(np.int32(s1[n]) + np.int32(s2[n]) + 16 * total)
                acc[n] += dd[n] * dx * s + widen(m[t, g, n]) * sx
        else:
            for n in range(TL):
                s = np.float32(s1[n]) + np.float32(s2[n])  # exact: |s| < 2^24
                acc[n] += dd[n] * dx * s
    for n in range(TL):
        out[i, col + t * TL + n] = acc[n]


@numba.njit(fastmath=True, cache=True, nogil=True)
def q5_tiles(q, h, d, m, xq, xd, xs, t0, t1, col, out) -> None:  # noqa: ANN001
    # q uint8 (NT, G, 16, TILE); h uint16 (NT, G, 2, TILE); d uint16 half bits (NT, G, TILE); m uint16 half bits
    # (NT, G, TILE), or (NT, 0, TILE) for none; xq int8 (T, K); xd, xs float32 (T, G)
    # out float32 (T, >= col + NT * TILE): tiles t0..t1-1 into the columns from ``col``, each row by the same
    # code whatever T is
    TL = q.shape[3]
    s1 = np.empty(TL, np.int16)
    s2 = np.empty(TL, np.int16)
    acc = np.empty(TL, np.float32)
    dd = np.empty(TL, np.float32)
    for t in range(t0, t1):
        for i in range(xq.shape[0]):
            q5_tile(q, h, d, m, xq, xd, xs, t, i, s1, s2, acc, dd, col, out)


@numba.njit(parallel=True, fastmath=True, cache=True, nogil=True)
def q5_matmul(q: np.ndarray, h: np.ndarray, d: np.ndarray, m: np.ndarray, x: np.ndarray, out: np.ndarray) -> None:
    """out (M, NT * TILE) = x float32 (M, K) times a 5-bit tile stack, each tile a part of numba's pool."""
    xq, xd, xs = quantize_activations(x)
    for t in prange(q.shape[0]):
        q5_tiles(q, h, d, m, xq, xd, xs, t, t + 1, 0, out)


@numba.njit(parallel=True, cache=True, nogil=True)  # no fastmath: no fused multiply-add, the file's values
def q5_dequantize(q: np.ndarray, h: np.ndarray, d: np.ndarray, m: np.ndarray, out: np.ndarray) -> None:
    # out float32 (NT * TILE, G * 32): d * v (Q5_0) or d * (v + 16) + m (Q5_1), as the file's values
    NT, G, _, T = q.shape
    asym = m.shape[1] > 0
    for t in prange(NT):
        for n in range(T):
            row = out[t * T + n]
            for g in range(G):
                dd = widen(d[t, g, n])
                for j in range(16):
                    lo = np.int32(q[t, g, j, n] & 15) - np.int32((h[t, g, 0, n] >> j) & 1) * 16
                    hi = np.int32(q[t, g, j, n] >> 4) - np.int32((h[t, g, 1, n] >> j) & 1) * 16
                    if asym:
                        mm = widen(m[t, g, n])
                        row[g * 32 + j] = dd * np.float32(lo + 16) + mm
                        row[g * 32 + j + 16] = dd * np.float32(hi + 16) + mm
                    else:
                        row[g * 32 + j] = dd * np.float32(lo)
                        row[g * 32 + j + 16] = dd * np.float32(hi)
