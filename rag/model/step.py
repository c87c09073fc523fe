"""One numba call per decoding step: every layer of a few-token forward pass of one sequence.

A decoded token through :class:`~rag.model.model.LlamaModel`'s modules costs
about 400 Python-level calls (norms, projections, attention, adds); at ~10 ms
per token they took a quarter of it. :func:`step_serial` runs the same
computation, for the quantized layers of the default mode and a single
sequence, as one compiled call: embedding rows in, logits out, the KV cache
written in place.

Every linear layer is a product of one or more parts (a fused projection whose
tensors have different types, a Q4_K_M file's Q4_K ``attn_q`` and Q6_K
``attn_v``, has several), each part one of four kernels: 4-bit groups
(:mod:`rag.model.tile_kernels`, Q4_0/Q4_1/Q4_K), 5-bit groups
(:mod:`rag.model.q5_kernels`, Q5_0/Q5_1), 8-bit groups (:mod:`rag.model.q8_kernels`,
Q8_0) and 8-bit blocks
(:mod:`rag.model.block_kernels`, Q5_K/Q6_K). The parts'
arrays lie in one flat buffer per kernel and field, :class:`Products`, of which
the modules hold views (nothing is held twice; numba takes a few flat arrays
and a table of offsets, where lists of arrays would be compiled anew in every
process). Activations are quantized once per product, then each part writes
its tiles into the product's output from its first column on. Every token's
row is computed alone and in a fixed order, so logits are bit-identical whether
a token is decoded alone or verified among a draft, and whether the step runs
on one thread or several (:func:`step_parallel`); the tests hold that.

Threads: :func:`step_parallel` splits each part's row tiles into ``chunks``
parts on numba's thread pool; :func:`step_serial` runs on the calling thread
and touches no pool. :class:`rag.model.decode_step.DecodeStep` picks between
them from measured step times.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np
from numba import prange

from rag.model.block_kernels import block_tiles
from rag.model.fused import attend_head, rms_norm, swiglu, write_kv
from rag.model.q5_kernels import q5_tiles
from rag.model.q8_kernels import activation_sums, q8w_tiles
from rag.model.tile_kernels import TILE, q4_tiles, quantize_activations

Q4, Q8, BLOCK, Q5 = 0, 1, 2, 3  # the kernel of a part (Products.parts[:, 0])
QKV, WO, GATE_UP, DOWN = 0, 1, 2, 3  # a layer's products; layer l's product k is number 4 l + k, the head 4 L


class Products(NamedTuple):
    """Every product of the step, as the compiled code takes it (a tuple: numba passes it as one argument).

    Each kernel's arrays lie in flat buffers, one per field (the modules hold views of them); a part's
    arrays are its slices, shaped by its row of ``parts``.
    """

    q4: tuple[np.ndarray, np.ndarray, np.ndarray]  # 4-bit groups: q uint8, d and m uint16 half bits
    q8: tuple[np.ndarray, np.ndarray]  # 8-bit groups: q uint8 words of 4 values offset by 128, d uint16
    block: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # 8-bit blocks: q, sc, mn int8; d, dmin
    q5: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # 5-bit groups: q uint8, h, d and m uint16
    # int64 (P, 10): kernel, first output column, row tiles NT, groups G, blocks B (5-bit: groups with a minimum,
    # G or 0), offset of each field in its buffer
    parts: np.ndarray
    first: np.ndarray  # int64 (4 L + 2,): product s is parts first[s] .. first[s + 1] - 1
    widths: np.ndarray  # int64 (5,): output columns (whole tiles) of the widest QKV, WO, GATE_UP, DOWN, head


@numba.njit(inline="always")
def _product(w, s, x, chunks, out) -> None:  # noqa: ANN001
    """out (M, >= widths) = x float32 (M, K) times product ``s``, each part's tiles cut into ``chunks`` parts.

    The cuts are a ``prange``: shared out over the pool inside a parallel function, in turn otherwise.
    """
    xq, xd, xs = quantize_activations(x)
    for p in range(w.first[s], w.first[s + 1]):
        kind, col, nt, G, B = w.parts[p, 0], w.parts[p, 1], w.parts[p, 2], w.parts[p, 3], w.parts[p, 4]
        o = w.parts[p, 5:]
        cuts = min(chunks, nt)
        n = nt * G * TILE  # values of a (NT, G, TILE) array
        if kind == Q4:
            q = w.q4[0][o[0] : o[0] + 16 * n].reshape((nt, G, 16, TILE))
            d = w.q4[1][o[1] : o[1] + n].reshape((nt, G, TILE))
            m = w.q4[2][o[2] : o[2] + n].reshape((nt, G, TILE))
            for c in prange(cuts):
                q4_tiles(q, d, m, xq, xd, xs, c * nt // cuts, (c + 1) * nt // cuts, col, out)
        elif kind == Q8:
            q8 = w.q8[0][o[0] : o[0] + 32 * n].reshape((nt, G, 8, TILE, 4))
            d = w.q8[1][o[1] : o[1] + n].reshape((nt, G, TILE))
            xsum = activation_sums(xq)
            for c in prange(cuts):
                q8w_tiles(q8, d, xq, xd, xsum, c * nt // cuts, (c + 1) * nt // cuts, col, out)
        elif kind == Q5:
            q = w.q5[0][o[0] : o[0] + 16 * n].reshape((nt, G, 16, TILE))
            h = w.q5[1][o[1] : o[1] + 2 * n].reshape((nt, G, 2, TILE))
            d = w.q5[2][o[2] : o[2] + n].reshape((nt, G, TILE))
            m = w.q5[3][o[3] : o[3] + nt * B * TILE].reshape((nt, B, TILE))
            for c in prange(cuts):
                q5_tiles(q, h, d, m, xq, xd, xs, c * nt // cuts, (c + 1) * nt // cuts, col, out)
        else:
            nb = nt * B * TILE
            q8 = w.block[0][o[0] : o[0] + 32 * n].reshape((nt, G, 32, TILE))
            sc = w.block[1][o[1] : o[1] + 2 * n].reshape((nt, G, 2, TILE))
            mn = w.block[2][o[2] : o[2] + n].reshape((nt, G, TILE))
            bd = w.block[3][o[3] : o[3] + nb].reshape((nt, B, TILE))
            bm = w.block[4][o[4] : o[4] + nb].reshape((nt, B, TILE))
            for c in prange(cuts):
                block_tiles(q8, sc, mn, bd, bm, xq, xd, xs, c * nt // cuts, (c + 1) * nt // cuts, col, out)


@numba.njit(inline="always")
def _attention(qkv, rot, k_cache, v_cache, start, n_heads, out) -> None:  # noqa: ANN001
    write_kv(qkv, rot, k_cache, v_cache, start, n_heads)
    T = qkv.shape[0]
    rep = n_heads // k_cache.shape[0]
    for job in prange(T * n_heads):
        attend_head(qkv, rot, k_cache, v_cache, start, job // n_heads, job % n_heads, rep, out)


@numba.njit(inline="always")
def _add(h, x) -> None:  # noqa: ANN001
    # h float32 (T, D) += the first D columns of x (T, >= D)
    for i in range(h.shape[0]):
        for j in range(h.shape[1]):
            h[i, j] += x[i, j]


@numba.njit(inline="always")
def _forward(  # noqa: ANN001
    h, start, rot, norms, eps, bias, w, k_cache, v_cache, n_heads, ffn_dim, head_norm, chunks, logits
) -> None:
    T, D = h.shape
    L = norms.shape[0]
    xn = np.empty((T, D), np.float32)
    qkv = np.empty((T, w.widths[QKV]), np.float32)
    att = np.empty((T, n_heads * k_cache.shape[2]), np.float32)
    o = np.empty((T, w.widths[WO]), np.float32)
    gu = np.empty((T, w.widths[GATE_UP]), np.float32)
    hidden = np.empty((T, ffn_dim), np.float32)
    dn = np.empty((T, w.widths[DOWN]), np.float32)
    for layer in range(L):
        rms_norm(h, norms[layer, 0], eps, xn)
        _product(w, 4 * layer + QKV, xn, chunks, qkv)
        for i in range(T):  # the Q/K/V bias (Qwen 2); none: width 0
            for j in range(bias.shape[1]):
                qkv[i, j] += bias[layer, j]
        _attention(qkv, rot, k_cache[layer], v_cache[layer], start, n_heads, att)
        _product(w, 4 * layer + WO, att, chunks, o)
        _add(h, o)
        rms_norm(h, norms[layer, 1], eps, xn)
        _product(w, 4 * layer + GATE_UP, xn, chunks, gu)
        swiglu(gu, hidden)  # hidden is (T, ffn_dim): up starts at column ffn_dim
        _product(w, 4 * layer + DOWN, hidden, chunks, dn)
        _add(h, dn)
    n_out, V = logits.shape
    last = np.empty((n_out, D), np.float32)
    rms_norm(h[T - n_out :], head_norm, eps, last)
    full = np.empty((n_out, w.widths[4]), np.float32)
    _product(w, 4 * L, last, chunks, full)
    for i in range(n_out):
        for j in range(V):
            logits[i, j] = full[i, j]


@numba.njit(fastmath=True, cache=True, nogil=True)
def step_serial(  # noqa: ANN001
    h, start, rot, norms, eps, bias, products, k_cache, v_cache, n_heads, ffn_dim, head_norm, chunks, logits
) -> None:
    """One forward pass of T new tokens of one sequence, on the calling thread.

    Args:
        h: float32 (T, D), the new tokens' embeddings; overwritten (the residual stream).
        start: position of the first new token; the cache holds positions 0..start-1.
        rot: float32 (T, hd // 2, 2), (cos, sin) of the new positions.
        norms: float32 (L, 2, D): each layer's attention and feed-forward RMSNorm weights.
        eps: the RMSNorm epsilon.
        bias: float32 (L, (H + 2 KV) * hd) added to the Q/K/V output, or (L, 0) for none (Q's scaled like its rows).
        products: :class:`Products`: each layer's fused Q/K/V (Q scaled by 1/sqrt(hd)), output, fused gate/up
            and down projections, then the output layer.
        k_cache, v_cache: float32 (L, KV, hd, max_len) and (L, KV, max_len, hd) of this sequence; written at
            start..start+T-1.
        n_heads: query heads.
        ffn_dim: the feed-forward width.
        head_norm: float32 (D,): the final norm.
        chunks: parts each product's tiles are cut into (1 here).
        logits: float32 (n_out, vocab): receives the logits of the last n_out tokens.
    """
    _forward(h, start, rot, norms, eps, bias, products, k_cache, v_cache, n_heads, ffn_dim, head_norm, chunks, logits)


@numba.njit(parallel=True, fastmath=True, cache=True, nogil=True)
def step_parallel(  # noqa: ANN001
    h, start, rot, norms, eps, bias, products, k_cache, v_cache, n_heads, ffn_dim, head_norm, chunks, logits
) -> None:
    """:func:`step_serial` with each product's tiles cut into ``chunks`` parts on numba's thread pool."""
    _forward(h, start, rot, norms, eps, bias, products, k_cache, v_cache, n_heads, ffn_dim, head_norm, chunks, logits)
