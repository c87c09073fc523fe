"""Fused numba kernels for the few-token path (decoding, speculative verification, beams).

When a forward pass carries only a handful of tokens, every torch operator
costs more in dispatch than in arithmetic: a decoded token runs ~40 of them per
layer. These kernels each replace a run of operators with one call:

* :func:`rms_norm`: the RMSNorm (``F.rms_norm`` dispatches six operators).
* :func:`swiglu`: ``silu(gate) * up`` on the fused gate/up output.
* :func:`attend`: rotary embedding of Q and K, the KV-cache write and
  grouped-query attention over the cache, for T new tokens of one sequence.

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


@numba.njit(fastmath=True, cache=True, nogil=True, inline="always")
def _rotate(src: np.ndarray, rot: np.ndarray, dst: np.ndarray) -> None:
    # src, dst float32 (hd,); rot float32 (hd // 2, 2) of (cos, sin): adjacent pairs as complex numbers
    for i in range(rot.shape[0]):
        a, b = src[2 * i], src[2 * i + 1]
        c, s = rot[i, 0], rot[i, 1]
        dst[2 * i] = a * c - b * s
        dst[2 * i + 1] = a * s + b * c


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

    One compiled variant only: a serial twin for short inputs would be other
    machine code, and a query's result must not depend on how many queries
    share the call.

    Args:
        qkv: float32 (T, (H + 2 KV) * hd), the fused projection's output (Q scaled by 1/sqrt(hd)):
            Q rows, K rows, V rows of T new tokens at positions start..start+T-1.
        rot: float32 (T, hd // 2, 2), (cos, sin) of each new position.
        k_cache, v_cache: float32 (KV, max_len, hd), one sequence's cache of this layer; written at start..start+T-1.
        start: position of the first new token.
        n_heads: H.
        out: float32 (T, H * hd), receives the attention output.
    """
    T = qkv.shape[0]
    KV, _, hd = k_cache.shape
    rep = n_heads // KV
    for t in range(T):
        for g in range(KV):
            k0 = (n_heads + g) * hd
            v0 = (n_heads + KV + g) * hd
            _rotate(qkv[t, k0 : k0 + hd], rot[t], k_cache[g, start + t])
            v_cache[g, start + t, :] = qkv[t, v0 : v0 + hd]
    for job in prange(KV * T):
        g, t = job // T, job % T
        n = start + t + 1  # causal: keys 0..start+t
        q = np.empty((rep, hd), np.float32)  # the query heads that share K/V head g
        for r in range(rep):
            h = g * rep + r
            _rotate(qkv[t, h * hd : (h + 1) * hd], rot[t], q[r])
        scores = np.dot(q, k_cache[g, :n].T)  # (rep, n), BLAS
        for r in range(rep):
            row = scores[r]
            row -= row.max()
            exp_inplace(row)
            row /= row.sum()
        o = np.dot(scores, v_cache[g, :n])  # (rep, hd)
        for r in range(rep):
            h = g * rep + r
            out[t, h * hd : (h + 1) * hd] = o[r]
