"""One numba call per decoding step: every layer of a few-token forward pass of one sequence.

A decoded token through :class:`~rag.model.model.LlamaModel`'s modules costs
about 400 Python-level calls (norms, projections, attention, adds); at ~10 ms
per token they took a quarter of it. :func:`step_serial` runs the same
computation, for int4 weights (the default mode) and a single sequence, as one
compiled call: embedding rows in, logits out, the KV cache written in place.

The layers' weights are stacked along a leading layer axis (the modules keep
views of the stacks, so nothing is held twice). The matrix products keep the
tile layout of :mod:`rag.model.group_quant` but accumulate in 16-bit lanes:
a 4-bit weight times an int8 activation is at most 15 * 127, and sums of
eight pairs of them fit in int16, so each group of 32 is two int16 partial
sums, exact, then converted to float and added. 16-bit lanes do twice the work
of the 32-bit ones per instruction, which is what AVX2 CPUs need. Every
token's row is computed alone and in a fixed order, so logits are
bit-identical whether a token is decoded alone or verified among a draft, and
whether the step runs on one thread or several (:func:`step_parallel`); the
tests hold that.

Threads: :func:`step_parallel` splits each product's row tiles into
``chunks`` parts on numba's thread pool; :func:`step_serial` runs on the
calling thread and touches no pool. :class:`rag.model.threads.StepRunner`
picks between them from measured step times.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from rag.model.fused import attend_head, rms_norm, swiglu, write_kv
from rag.model.group_quant import _quantize_activations
from rag.model.half import widen


@numba.njit(fastmath=True, cache=True, nogil=True)
def _q4_tile(q, d, m, xq, xd, xs, t, i, s1, s2, acc, dd, mm, out) -> None:  # noqa: ANN001
    # Token row i times tile t: out[i, t*TILE:(t+1)*TILE]. The weights are unpacked in the loop that
    # multiplies them, with nothing staged through memory; a tile (18 KB at 576 inputs) stays in L1
    # while the other rows of a draft reuse it.
    _, G, _, TL = q.shape
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
                s1[n] += (b & 15) * xa + (b >> 4) * xb
        for j in range(8, 16):
            xa = np.int16(xq[i, g * 32 + j])
            xb = np.int16(xq[i, g * 32 + j + 16])
            for n in range(TL):
                b = np.int16(q[t, g, j, n])
                s2[n] += (b & 15) * xa + (b >> 4) * xb
        dx, sx = xd[i, g], xs[i, g]
        for n in range(TL):
            dd[n] = widen(d[t, g, n])
            mm[n] = widen(m[t, g, n])
        for n in range(TL):
            s = np.float32(s1[n]) + np.float32(s2[n])  # exact: |s| < 2^24
            acc[n] += dd[n] * dx * s + mm[n] * sx
    for n in range(TL):
        out[i, t * TL + n] = acc[n]


@numba.njit(fastmath=True, cache=True, nogil=True)
def _q4_tiles(q, d, m, xq, xd, xs, t0, t1, out) -> None:  # noqa: ANN001
    # q uint8 (NT, G, 16, TILE); d, m uint16 half bits (NT, G, TILE); xq int8 (T, K); xd, xs float32 (T, G)
    # out float32 (T, NT * TILE): columns of tiles t0..t1-1, each row by the same code whatever T is
    TL = q.shape[3]
    s1 = np.empty(TL, np.int16)
    s2 = np.empty(TL, np.int16)
    acc = np.empty(TL, np.float32)
    dd = np.empty(TL, np.float32)
    mm = np.empty(TL, np.float32)
    for t in range(t0, t1):
        for i in range(xq.shape[0]):
            _q4_tile(q, d, m, xq, xd, xs, t, i, s1, s2, acc, dd, mm, out)


@numba.njit(fastmath=True, cache=True, nogil=True)
def _q8_tile(q, d, xq, xd, t, i, s, acc, dd, out) -> None:  # noqa: ANN001
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
        out[i, t * TL + n] = acc[n]


@numba.njit(fastmath=True, cache=True, nogil=True)
def _q8_tiles(q, d, xq, xd, t0, t1, out) -> None:  # noqa: ANN001
    # q int8 (NT, G, 32, TILE); d uint16 half bits (NT, G, TILE); xq int8 (T, K); xd float32 (T, G)
    TL = q.shape[3]
    s = np.empty(TL, np.int32)
    acc = np.empty(TL, np.float32)
    dd = np.empty(TL, np.float32)
    for t in range(t0, t1):
        for i in range(xq.shape[0]):
            _q8_tile(q, d, xq, xd, t, i, s, acc, dd, out)


@numba.njit(inline="always")
def _q4_matmul(q, d, m, x, chunks, out) -> None:  # noqa: ANN001
    xq, xd, xs = _quantize_activations(x)
    nt = q.shape[0]
    parts = min(chunks, nt)
    for c in prange(parts):
        _q4_tiles(q, d, m, xq, xd, xs, c * nt // parts, (c + 1) * nt // parts, out)


@numba.njit(inline="always")
def _q8_matmul(q, d, x, chunks, out) -> None:  # noqa: ANN001
    xq, xd, _ = _quantize_activations(x)
    nt = q.shape[0]
    parts = min(chunks, nt)
    for c in prange(parts):
        _q8_tiles(q, d, xq, xd, c * nt // parts, (c + 1) * nt // parts, out)


@numba.njit(inline="always")
def _attention(qkv, rot, k_cache, v_cache, start, n_heads, out) -> None:  # noqa: ANN001
    write_kv(qkv, rot, k_cache, v_cache, start, n_heads)
    T = qkv.shape[0]
    rep = n_heads // k_cache.shape[0]
    for job in prange(T * n_heads):
        attend_head(qkv, rot, k_cache, v_cache, start, job // n_heads, job % n_heads, rep, out)


@numba.njit(inline="always")
def _forward(  # noqa: ANN001
    h, start, rot, norms, eps, wqkv, wo, wgu, wdn, k_cache, v_cache, n_heads, ffn_dim, head, chunks, logits
) -> None:
    T, D = h.shape
    L = norms.shape[0]
    TL = wqkv[0].shape[4]
    xn = np.empty((T, D), np.float32)
    qkv = np.empty((T, wqkv[0].shape[1] * TL), np.float32)
    att = np.empty((T, n_heads * k_cache.shape[2]), np.float32)
    o = np.empty((T, wo[0].shape[1] * TL), np.float32)
    gu = np.empty((T, wgu[0].shape[1] * TL), np.float32)
    hidden = np.empty((T, ffn_dim), np.float32)
    dn = np.empty((T, wdn[0].shape[1] * TL), np.float32)
    for layer in range(L):
        rms_norm(h, norms[layer, 0], eps, xn)
        _q4_matmul(wqkv[0][layer], wqkv[1][layer], wqkv[2][layer], xn, chunks, qkv)
        _attention(qkv, rot, k_cache[layer], v_cache[layer], start, n_heads, att)
        _q4_matmul(wo[0][layer], wo[1][layer], wo[2][layer], att, chunks, o)
        for i in range(T):
            for j in range(D):
                h[i, j] += o[i, j]
        rms_norm(h, norms[layer, 1], eps, xn)
        _q4_matmul(wgu[0][layer], wgu[1][layer], wgu[2][layer], xn, chunks, gu)
        swiglu(gu, hidden)  # hidden is (T, ffn_dim): up starts at column ffn_dim
        _q4_matmul(wdn[0][layer], wdn[1][layer], wdn[2][layer], hidden, chunks, dn)
        for i in range(T):
            for j in range(D):
                h[i, j] += dn[i, j]
    n_out = logits.shape[0]
    last = np.empty((n_out, D), np.float32)
    rms_norm(h[T - n_out :], head[0], eps, last)
    full = np.empty((n_out, head[1].shape[0] * TL), np.float32)
    _q8_matmul(head[1], head[2], last, chunks, full)
    V = logits.shape[1]
    for i in range(n_out):
        for j in range(V):
            logits[i, j] = full[i, j]


@numba.njit(fastmath=True, cache=True, nogil=True)
def step_serial(  # noqa: ANN001
    h, start, rot, norms, eps, wqkv, wo, wgu, wdn, k_cache, v_cache, n_heads, ffn_dim, head, chunks, logits
) -> None:
    """One forward pass of T new tokens of one sequence, on the calling thread.

    Args:
        h: float32 (T, D), the new tokens' embeddings; overwritten (the residual stream).
        start: position of the first new token; the cache holds positions 0..start-1.
        rot: float32 (T, hd // 2, 2), (cos, sin) of the new positions.
        norms: float32 (L, 2, D): each layer's attention and feed-forward RMSNorm weights.
        eps: the RMSNorm epsilon.
        wqkv, wo, wgu, wdn: (q, d, m) stacks (L, NT, G, 16, TILE), (L, NT, G, TILE) x 2 of the
            fused Q/K/V, output, fused gate/up and down projections (Q scaled by 1/sqrt(hd)); scales as half bits.
        k_cache, v_cache: float32 (L, KV, hd, max_len) and (L, KV, max_len, hd) of this sequence; written at
            start..start+T-1.
        n_heads: query heads.
        ffn_dim: the feed-forward width.
        head: (final norm float32 (D,), q int8 (NT, G, 32, TILE), d uint16 half bits (NT, G, TILE)): the output layer.
        chunks: parts each product's tiles are cut into (1 here).
        logits: float32 (n_out, vocab): receives the logits of the last n_out tokens.
    """
    _forward(h, start, rot, norms, eps, wqkv, wo, wgu, wdn, k_cache, v_cache, n_heads, ffn_dim, head, chunks, logits)


@numba.njit(parallel=True, fastmath=True, cache=True, nogil=True)
def step_parallel(  # noqa: ANN001
    h, start, rot, norms, eps, wqkv, wo, wgu, wdn, k_cache, v_cache, n_heads, ffn_dim, head, chunks, logits
) -> None:
    """:func:`step_serial` with each product's tiles cut into ``chunks`` parts on numba's thread pool."""
    _forward(h, start, rot, norms, eps, wqkv, wo, wgu, wdn, k_cache, v_cache, n_heads, ffn_dim, head, chunks, logits)
