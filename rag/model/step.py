"""One numba call per decoding step: every layer of a few-token forward pass of one sequence.

A decoded token through :class:`~rag.model.model.LlamaModel`'s modules costs
about 400 Python-level calls (norms, projections, attention, adds); at ~10 ms
per token they took a quarter of it. :func:`step_serial` runs the same
computation, for int4 weights (the default mode) and a single sequence, as one
compiled call: embedding rows in, logits out, the KV cache written in place.

The layers' weights are stacked along a leading layer axis (the modules keep
views of the stacks, so nothing is held twice); the products are the tile
kernels of :mod:`rag.model.tile_kernels`. Every token's row is computed alone
and in a fixed order, so logits are bit-identical whether a token is decoded
alone or verified among a draft, and whether the step runs on one thread or
several (:func:`step_parallel`); the tests hold that.

Threads: :func:`step_parallel` splits each product's row tiles into
``chunks`` parts on numba's thread pool; :func:`step_serial` runs on the
calling thread and touches no pool. :class:`rag.model.decode_step.DecodeStep`
picks between them from measured step times.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from rag.model.fused import attend_head, rms_norm, swiglu, write_kv
from rag.model.tile_kernels import q4_product, q8_product


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
        q4_product(wqkv[0][layer], wqkv[1][layer], wqkv[2][layer], xn, chunks, qkv)
        _attention(qkv, rot, k_cache[layer], v_cache[layer], start, n_heads, att)
        q4_product(wo[0][layer], wo[1][layer], wo[2][layer], att, chunks, o)
        for i in range(T):
            for j in range(D):
                h[i, j] += o[i, j]
        rms_norm(h, norms[layer, 1], eps, xn)
        q4_product(wgu[0][layer], wgu[1][layer], wgu[2][layer], xn, chunks, gu)
        swiglu(gu, hidden)  # hidden is (T, ffn_dim): up starts at column ffn_dim
        q4_product(wdn[0][layer], wdn[1][layer], wdn[2][layer], hidden, chunks, dn)
        for i in range(T):
            for j in range(D):
                h[i, j] += dn[i, j]
    n_out = logits.shape[0]
    last = np.empty((n_out, D), np.float32)
    rms_norm(h[T - n_out :], head[0], eps, last)
    full = np.empty((n_out, head[1].shape[0] * TL), np.float32)
    q8_product(head[1], head[2], last, chunks, full)
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
