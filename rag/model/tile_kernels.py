"""The numba kernels of the group-quantized layers: activations to int8, tile products, dequantization.

Weights are cut into tiles of ``TILE`` rows, stored transposed within a tile
(``q[tile, group, j, row]``), so the innermost loops run over 64 adjacent rows
and vectorise; scales are half-precision bits (:mod:`rag.model.half`).

The products (:func:`q4_tiles`, :func:`q8_tiles`) quantize nothing themselves:
activations are quantized per group of 32 to int8 once per product
(:func:`quantize_activations`, as llama.cpp's Q8_1), then the sums are exact
integers in 16-bit lanes, which do twice the work of 32-bit ones per
instruction (what AVX2 CPUs need): a 4-bit weight times an int8 activation
summed over 8 pairs fits int16, and so does a pair of int8 products. Each
token row is computed by the same single-row code whatever the number of rows,
so a row's result does not depend on how many rows share a call (speculative
verification and a prompt's passes rely on it); the 4-bit product takes a
group of a tile (1 KB) at a time, kept in L1 while every row passes over it,
and sums each half group in registers (1.25x the former per-row loop). Both the
module path (:mod:`rag.model.group_quant`) and the one-call decoding step
(:mod:`rag.model.step`) use them.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from rag.model.half import widen

TILE = 64


@numba.njit(fastmath=True, cache=True, nogil=True)
def quantize_activations(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # x float32 (M, K) -> xq int8 (M, K), scale float32 (M, G), sum float32 (M, G)
    # The sum is of the quantized values (scale * sum(xq)), as llama.cpp's Q8_1 keeps it: then
    # d*q.x + m*sum is exactly w.x for the quantized x, and the rounding error scales with |w|,
    # not with |w - m| (using the exact sum of x raised the perplexity by 2%).
    M, K = x.shape
    G = K // 32
    xq = np.empty((M, K), np.int8)
    xd = np.empty((M, G), np.float32)
    xs = np.empty((M, G), np.float32)
    for i in range(M):
        for g in range(G):
            amax = np.float32(0.0)
            for j in range(32):
                amax = max(amax, abs(x[i, g * 32 + j]))
            d = amax / np.float32(127.0)
            inv = np.float32(1.0) / d if d > 0 else np.float32(0.0)
            total = 0
            for j in range(32):
                v = np.int8(np.rint(x[i, g * 32 + j] * inv))
                xq[i, g * 32 + j] = v
                total += v
            xd[i, g] = d
            xs[i, g] = d * np.float32(total)
    return xq, xd, xs


@numba.njit(fastmath=True, cache=True, nogil=True)
def q4_sums(q, xq, t, g, i, s) -> None:  # noqa: ANN001
    # Token row i times group g of tile t: s int16 (2, TL), the exact sums of the group's two halves (8 bytes
    # each, a low and a high nibble per byte). The rows are the vectorised loop and the bytes the inner one, so
    # each half's sums stay in registers: |s| <= 8 * 2 * 15 * 127 < 2^15.
    TL = q.shape[3]
    k = g * 32
    for h in range(2):
        for n in range(TL):
            a = np.int16(0)
            for j in range(8 * h, 8 * h + 8):
                b = np.int16(q[t, g, j, n])
                a += (b & 15) * np.int16(xq[i, k + j]) + (b >> 4) * np.int16(xq[i, k + j + 16])
            s[h, n] = a


@numba.njit(fastmath=True, cache=True, nogil=True)
def q4_tiles(q, d, m, xq, xd, xs, t0, t1, col, out) -> None:  # noqa: ANN001
    # q uint8 (NT, G, 16, TILE); d, m uint16 half bits (NT, G, TILE); xq int8 (T, K); xd, xs float32 (T, G)
    # out float32 (T, >= col + NT * TILE): tiles t0..t1-1 into the columns from ``col``, each row by the same
    # code whatever T is. A group's weights (1 KB) stay in L1 while every row passes over them.
    _, G, _, TL = q.shape
    T = xq.shape[0]
    s = np.empty((2, TL), np.int16)
    acc = np.empty((T, TL), np.float32)
    dd = np.empty(TL, np.float32)
    mm = np.empty(TL, np.float32)
    for t in range(t0, t1):
        acc[:] = 0
        for g in range(G):
            for n in range(TL):
                dd[n] = widen(d[t, g, n])
                mm[n] = widen(m[t, g, n])
            for i in range(T):
                q4_sums(q, xq, t, g, i, s)
                dx, sx = xd[i, g], xs[i, g]
                for n in range(TL):
                    acc[i, n] += dd[n] * dx * (np.float32(s[0, n]) + np.float32(s[1, n])) + mm[n] * sx
        for i in range(T):
            for n in range(TL):
                out[i, col + t * TL + n] = acc[i, n]


@numba.njit(fastmath=True, cache=True, nogil=True)
def q8_tile(q, d, xq, xd, t, i, s, acc, dd, col, out) -> None:  # noqa: ANN001
    # Token row i times tile t of an 8-bit matrix; a pair of int8 products is at most 2 * 128 * 127 < 2^15,
    # so it is summed in int16, then widened.
    _, G, _, TL = q.shape
    for n in range(TL):
        acc[n] = 0
    for g in range(G):
        for n in range(TL):
            s[n] = 0
        for j in range(0, 32, 2):
            xa = np.int16(xq[i, g * 32 + j])
            xb = np.int16(xq[i, g * 32 + j + 1])
            for n in range(TL):
                s[n] += np.int16(np.int16(q[t, g, j, n]) * xa + np.int16(q[t, g, j + 1, n]) * xb)
        dx = xd[i, g]
        for n in range(TL):
            dd[n] = widen(d[t, g, n])
        for n in range(TL):
            acc[n] += dd[n] * dx * np.float32(s[n])
    for n in range(TL):
        out[i, col + t * TL + n] = acc[n]


@numba.njit(fastmath=True, cache=True, nogil=True)
def q8_tiles(q, d, xq, xd, t0, t1, col, out) -> None:  # noqa: ANN001
    # q int8 (NT, G, 32, TILE); d uint16 half bits (NT, G, TILE); xq int8 (T, K); xd float32 (T, G)
    TL = q.shape[3]
    s = np.empty(TL, np.int32)
    acc = np.empty(TL, np.float32)
    dd = np.empty(TL, np.float32)
    for t in range(t0, t1):
        for i in range(xq.shape[0]):
            q8_tile(q, d, xq, xd, t, i, s, acc, dd, col, out)


@numba.njit(inline="always")
def q4_product(q, d, m, x, chunks, out) -> None:  # noqa: ANN001
    """out (M, NT * TILE) = x float32 (M, K) times a 4-bit tile stack, its tiles cut into ``chunks`` parts.

    The parts are a ``prange``: shared out over the pool inside a parallel function, in turn otherwise.
    """
    xq, xd, xs = quantize_activations(x)
    nt = q.shape[0]
    parts = min(chunks, nt)
    for c in prange(parts):
        q4_tiles(q, d, m, xq, xd, xs, c * nt // parts, (c + 1) * nt // parts, 0, out)


@numba.njit(inline="always")
def q8_product(q, d, x, chunks, out) -> None:  # noqa: ANN001
    """out (M, NT * TILE) = x float32 (M, K) times an 8-bit tile stack, its tiles cut into ``chunks`` parts."""
    xq, xd, _ = quantize_activations(x)
    nt = q.shape[0]
    parts = min(chunks, nt)
    for c in prange(parts):
        q8_tiles(q, d, xq, xd, c * nt // parts, (c + 1) * nt // parts, 0, out)


@numba.njit(parallel=True, fastmath=True, cache=True, nogil=True)
def q4_matmul(q: np.ndarray, d: np.ndarray, m: np.ndarray, x: np.ndarray, out: np.ndarray) -> None:
    """:func:`q4_product` with each tile a part, shared out over the pool (the module path)."""
    q4_product(q, d, m, x, q.shape[0], out)


@numba.njit(parallel=True, fastmath=True, cache=True, nogil=True)
def q8_matmul(q: np.ndarray, d: np.ndarray, x: np.ndarray, out: np.ndarray) -> None:
    """:func:`q8_product` with each tile a part, shared out over the pool (the module path)."""
    q8_product(q, d, x, q.shape[0], out)


@numba.njit(parallel=True, fastmath=True, cache=True, nogil=True)
def q4_dequantize(q: np.ndarray, d: np.ndarray, m: np.ndarray, out: np.ndarray) -> None:
    # q uint8 (NT, G, 16, TILE); d, m uint16 half bits (NT, G, TILE); out float32 (NT * TILE, G * 32)
    NT, G, _, T = q.shape
    for t in prange(NT):
        for n in range(T):
            row = out[t * T + n]
            for g in range(G):
                dd, mm = widen(d[t, g, n]), widen(m[t, g, n])
                for j in range(16):
                    b = q[t, g, j, n]
                    row[g * 32 + j] = dd * np.float32(b & 15) + mm
                    row[g * 32 + j + 16] = dd * np.float32(b >> 4) + mm


@numba.njit(parallel=True, fastmath=True, cache=True, nogil=True)
def q8_dequantize(q: np.ndarray, d: np.ndarray, out: np.ndarray) -> None:
    # q int8 (NT, G, 32, TILE); d uint16 half bits (NT, G, TILE); out float32 (NT * TILE, G * 32)
    NT, G, _, T = q.shape
    for t in prange(NT):
        for n in range(T):
            row = out[t * T + n]
            for g in range(G):
                dd = widen(d[t, g, n])
                for j in range(32):
                    row[g * 32 + j] = dd * np.float32(q[t, g, j, n])
