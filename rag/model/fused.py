"""Fused numba kernels for the few-token path (decoding, speculative verification, beams).

When a forward pass carries only a handful of tokens, every torch operator
costs more in dispatch than in arithmetic: a decoded token runs ~40 of them per
layer. These kernels each replace a run of operators with one call:

* :func:`rms_norm`: the RMSNorm (``F.rms_norm`` dispatches six operators).
* :func:`swiglu`: ``silu(gate) * up`` on the fused gate/up output.
* :func:`attend`: rotary embedding of Q and K, the KV-cache write
  (:func:`write_kv`) and grouped-query attention over the cache
  (:func:`attend_head`), for T new tokens of one sequence; the one-call step
  of :mod:`rag.model.step` uses the same two functions.

Each computes a token's row independently of the other rows, in a fixed order,
so its result does not depend on how many tokens share the call. The model
uses them only for inputs of at most :data:`MAX_TOKENS` tokens; longer inputs
(prefill) take the plain torch operators, which the tests hold them equal to.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

MAX_TOKENS = 16


@numba.njit(fastmath=True, cache=True, nogil=True)
def rms_norm(x: np.ndarray, weight: np.ndarray, eps: float, out: np.ndarray) -> None:
    # x float32 (M, D); weight float32 (D,); out float32 (M, D)
    M, D = x.shape
    for i in range(M):
        ss = np.float32(0.0)
        for j in range(D):
            ss += x[i, j] * x[i, j]
        r = np.float32(1.0) / np.sqrt(ss / np.float32(D) + np.float32(eps))
        for j in range(D):
            out[i, j] = x[i, j] * r * weight[j]


@numba.njit(fastmath=True, cache=True, nogil=True)
def exp_inplace(x: np.ndarray) -> None:
    """x <- exp(x) for a float32 vector, within 2 ulp (Cephes expf), in loops the compiler vectorises.

    ``math.exp`` is a scalar library call; on a 1536-wide SwiGLU it took 80% of the kernel.
    """
    n = x.shape[0]
    scale = np.empty(n, np.int32)
    for i in range(n):
        v = min(max(x[i], np.float32(-87.3)), np.float32(88.0))
        k = np.floor(v * np.float32(1.44269504) + np.float32(0.5))
        r = v - k * np.float32(0.693359375) + k * np.float32(2.12194440e-4)
        p = np.float32(1.9875691500e-4)
        p = p * r + np.float32(1.3981999507e-3)
        p = p * r + np.float32(8.3334519073e-3)
        p = p * r + np.float32(4.1665795894e-2)
        p = p * r + np.float32(1.6666665459e-1)
        p = p * r + np.float32(5.0000001201e-1)
        x[i] = p * r * r + r + np.float32(1.0)
        scale[i] = (np.int32(k) + np.int32(127)) << np.int32(23)  # 2^k as float32 bits
    x *= scale.view(np.float32)


@numba.njit(fastmath=True, cache=True, nogil=True)
def swiglu(gate_up: np.ndarray, out: np.ndarray) -> None:
    # gate_up float32 (M, 2F): gate then up; out float32 (M, F) = silu(gate) * up
    M, F = out.shape
    e = np.empty(F, np.float32)
    for i in range(M):
        for j in range(F):
            e[j] = -gate_up[i, j]
        exp_inplace(e)
        for j in range(F):
            out[i, j] = gate_up[i, j] / (np.float32(1.0) + e[j]) * gate_up[i, F + j]


@numba.njit(fastmath=True, cache=True, nogil=True)
def write_kv(
    qkv: np.ndarray, rot: np.ndarray, k_cache: np.ndarray, v_cache: np.ndarray, start: int, n_heads: int
) -> None:
    """Rotate the new tokens' keys into the cache and copy their values.

    Args:
        qkv: float32 (T, (H + 2 KV) * hd): Q rows, K rows, V rows of T new tokens.
        rot: float32 (T, hd // 2, 2), (cos, sin) of each new position.
        k_cache: float32 (KV, hd, max_len), keys transposed; v_cache: float32 (KV, max_len, hd).
        start: position of the first new token.
        n_heads: H.
    """
    T = qkv.shape[0]
    KV, hd, _ = k_cache.shape
    for t in range(T):
        for g in range(KV):
            k0 = (n_heads + g) * hd
            v0 = (n_heads + KV + g) * hd
            for i in range(hd // 2):
                a, b = qkv[t, k0 + 2 * i], qkv[t, k0 + 2 * i + 1]
                c, s = rot[t, i, 0], rot[t, i, 1]
                k_cache[g, 2 * i, start + t] = a * c - b * s
                k_cache[g, 2 * i + 1, start + t] = a * s + b * c
            for i in range(hd):
                v_cache[g, start + t, i] = qkv[t, v0 + i]


@numba.njit(fastmath=True, cache=True, nogil=True)
def attend_head(
    qkv: np.ndarray, rot: np.ndarray, k_cache: np.ndarray, v_cache: np.ndarray, start: int, t: int, h: int, rep: int,
    out: np.ndarray,
) -> None:
    """Causal attention of query head ``h`` of new token ``t`` over cache positions 0..start+t.

    Scores are accumulated over head dimensions with positions in the vector
    lanes (keys are stored transposed), softmax in place, then values summed.
    Writes ``out[t, h * hd:(h + 1) * hd]``.
    """
    _, hd, _ = k_cache.shape
    g = h // rep
    n = start + t + 1
    scores = np.zeros(n, np.float32)
    for i in range(hd // 2):
        a, b = qkv[t, h * hd + 2 * i], qkv[t, h * hd + 2 * i + 1]
        c, s = rot[t, i, 0], rot[t, i, 1]
        q0, q1 = a * c - b * s, a * s + b * c
        for p in range(n):
            scores[p] += q0 * k_cache[g, 2 * i, p] + q1 * k_cache[g, 2 * i + 1, p]
    top = scores.max()
    for p in range(n):
        scores[p] -= top
    exp_inplace(scores)
    total = np.float32(0.0)
    for p in range(n):
        total += scores[p]
    o = np.zeros(hd, np.float32)
    for p in range(n):
        w = scores[p]
        for i in range(hd):
            o[i] += w * v_cache[g, p, i]
    inv = np.float32(1.0) / total
    for i in range(hd):
        out[t, h * hd + i] = o[i] * inv


@numba.njit(parallel=True, fastmath=True, cache=True, nogil=True)
def attend(
    qkv: np.ndarray,
    rot: np.ndarray,
    k_cache: np.ndarray,
    v_cache: np.ndarray,
    start: int,
    n_heads: int,
    out: np.ndarray,
) -> None:
    """RoPE + KV-cache write + causal grouped-query attention for T new tokens of one sequence.

    Args:
        qkv: float32 (T, (H + 2 KV) * hd), the fused projection's output (Q scaled by 1/sqrt(hd)).
        rot: float32 (T, hd // 2, 2), (cos, sin) of each new position.
        k_cache: float32 (KV, hd, max_len); v_cache: float32 (KV, max_len, hd): one sequence's cache of this
            layer, written at start..start+T-1.
        start: position of the first new token.
        n_heads: H.
        out: float32 (T, H * hd), receives the attention output.
    """
    write_kv(qkv, rot, k_cache, v_cache, start, n_heads)
    T = qkv.shape[0]
    rep = n_heads // k_cache.shape[0]
    for job in prange(T * n_heads):
        attend_head(qkv, rot, k_cache, v_cache, start, job // n_heads, job % n_heads, rep, out)
