"""numba kernels of the 8-bit block layer (:class:`rag.model.block_quant.Int8BlockLinear`).

The layer holds Q5_1, Q5_K and Q6_K weights exactly as their integers: a
group of 32 values has int8 ``q``, two int8 scales ``sc`` (one per 16 values)
and an int8 minimum ``mn``; a block of ``per`` groups has half-precision ``d``
and ``dmin``: ``w = d * sc * q - dmin * mn``. The layout is that of
:mod:`rag.model.tile_kernels` (64-row tiles stored transposed, the innermost
loops over 64 adjacent rows), and so is the arithmetic: activations quantized
per group of 32 to int8 (:func:`~rag.model.tile_kernels.quantize_activations`),
exact integer sums of each half group, one token row at a time (a row's result
does not depend on how many rows share the call).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from rag.model.half import widen
from rag.model.tile_kernels import quantize_activations


@numba.njit(fastmath=True, cache=True, nogil=True)
def block_tile(q, sc, mn, d, dmin, xq, xd, xs, t, i, s1, s2, acc, col, out) -> None:  # noqa: ANN001
    # Token row i times tile t, into out[i, col + t*TILE : col + (t+1)*TILE]. A pair of int8 products is at
    # most 2 * 128 * 127 < 2^15 (int16), eight pairs of a half group sum exactly in int32.
    _, G, _, TL = q.shape
    per = G // d.shape[1]
    for n in range(TL):
        acc[n] = 0
    for g in range(G):
        for n in range(TL):
            s1[n] = 0
            s2[n] = 0
        for j in range(0, 16, 2):
            xa = np.int16(xq[i, g * 32 + j])
            xb = np.int16(xq[i, g * 32 + j + 1])
            for n in range(TL):
                s1[n] += np.int16(np.int16(q[t, g, j, n]) * xa + np.int16(q[t, g, j + 1, n]) * xb)
        for j in range(16, 32, 2):
            xa = np.int16(xq[i, g * 32 + j])
            xb = np.int16(xq[i, g * 32 + j + 1])
            for n in range(TL):
                s2[n] += np.int16(np.int16(q[t, g, j, n]) * xa + np.int16(q[t, g, j + 1, n]) * xb)
        b = g // per
        dx, sx = xd[i, g], xs[i, g]
        for n in range(TL):
            s = np.float32(sc[t, g, 0, n]) * np.float32(s1[n]) + np.float32(sc[t, g, 1, n]) * np.float32(s2[n])
            acc[n] += widen(d[t, b, n]) * dx * s - widen(dmin[t, b, n]) * np.float32(mn[t, g, n]) * sx
    for n in range(TL):
        out[i, col + t * TL + n] = acc[n]


@numba.njit(fastmath=True, cache=True, nogil=True)
def block_tiles(q, sc, mn, d, dmin, xq, xd, xs, t0, t1, col, out) -> None:  # noqa: ANN001
    # q int8 (NT, G, 32, TILE); sc int8 (NT, G, 2, TILE); mn int8 (NT, G, TILE); d, dmin uint16 (NT, G // per, TILE)
    # out float32 (T, >= col + NT * TILE): tiles t0..t1-1 into the columns from ``col``
    TL = q.shape[3]
    s1 = np.empty(TL, np.int32)
    s2 = np.empty(TL, np.int32)
    acc = np.empty(TL, np.float32)
    for t in range(t0, t1):
        for i in range(xq.shape[0]):
            block_tile(q, sc, mn, d, dmin, xq, xd, xs, t, i, s1, s2, acc, col, out)


@numba.njit(parallel=True, fastmath=True, cache=True, nogil=True)
def block_matmul(q, sc, mn, d, dmin, x, out) -> None:  # noqa: ANN001
    """out (M, NT * TILE) = x float32 (M, K) times the block tile stack, each tile a part of numba's pool."""
    xq, xd, xs = quantize_activations(x)
    for t in prange(q.shape[0]):
        block_tiles(q, sc, mn, d, dmin, xq, xd, xs, t, t + 1, 0, out)


@numba.njit(parallel=True, cache=True, nogil=True)  # no fastmath: no fused multiply-add, equal to numpy's
def block_dequantize(q, sc, mn, d, dmin, out) -> None:  # noqa: ANN001
    # out float32 (NT * TILE, G * 32): w = (d * sc) * q - (dmin * mn), as QuantGroups.dequantize computes it
    NT, G, _, T = q.shape
    per = G // d.shape[1]
    for t in prange(NT):
        for n in range(T):
            row = out[t * T + n]
            for g in range(G):
                dd, dm = widen(d[t, g // per, n]), widen(dmin[t, g // per, n])
                m = dm * np.float32(mn[t, g, n])
                for h in range(2):
                    s = dd * np.float32(sc[t, g, h, n])
                    for j in range(16):
                        row[g * 32 + h * 16 + j] = s * np.float32(q[t, g, h * 16 + j, n]) - m


@numba.njit(cache=True, nogil=True)
def block_rows(q, sc, mn, d, dmin, ids, out) -> None:  # noqa: ANN001
    # ids int64 (n,) -> out float32 (n, G * 32): the dequantized rows, as block_dequantize computes them
    _, G, _, T = q.shape
    per = G // d.shape[1]
    for k in range(ids.shape[0]):
        t, n = ids[k] // T, ids[k] % T
        for g in range(G):
            m = widen(dmin[t, g // per, n]) * np.float32(mn[t, g, n])
            for h in range(2):
                s = widen(d[t, g // per, n]) * np.float32(sc[t, g, h, n])
                for j in range(16):
                    out[k, g * 32 + h * 16 + j] = s * np.float32(q[t, g, h * 16 + j, n]) - m
