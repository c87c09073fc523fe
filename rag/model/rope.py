"""Rotary position embeddings in the GGUF weight layout.

llama.cpp's converter permutes the rows of the Q and K projections of every
head so that the two halves HF rotates together (dims ``i`` and ``i + d/2``)
become adjacent (dims ``2i`` and ``2i + 1``); llama.cpp then rotates adjacent
pairs. ``transformers`` undoes that permutation when it loads a GGUF and rotates
halves. We keep the file's layout and rotate adjacent pairs, which is the same
computation: Q and K rows move by the same permutation inside each head, so
every dot product q.k, hence the attention output, is unchanged, and V and the
output projection are not permuted at all.

A pair (x0, x1) at position p is a complex number x0 + i*x1 multiplied by
exp(i * p * base^(-2j/head_dim)) for pair index j. Rope scaling divides that
angle: by a factor per pair (Llama 3; llama.cpp's ``rope_freqs`` tensor) and by
one factor for all (linear scaling).

Architectures whose files keep HF's order (llama.cpp's NEOX rope: Qwen, Phi-3,
Gemma) are brought to the adjacent-pairs layout by :func:`interleave_heads`
when they load, so the rotation code is the same for all.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def rope_frequencies(
    head_dim: int,
    base: float,
    max_len: int,
    device: torch.device | str = "cpu",
    factors: np.ndarray | None = None,
    linear: float = 1.0,
) -> torch.Tensor:
    """The rotations for positions 0..max_len-1.

    Args:
        factors: float (head_dim // 2,), each pair's frequency is divided by its factor; None: all 1.
        linear: every angle is divided by this.
    Returns:
        complex64 (max_len, head_dim // 2): ``cis[p, j] = exp(i * p * base^(-2j/head_dim) / (factors[j] * linear))``.
    """
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    if factors is not None:
        inv_freq = inv_freq / torch.as_tensor(np.asarray(factors, dtype=np.float64))
    angles = torch.outer(torch.arange(max_len, dtype=torch.float64) / linear, inv_freq)  # (max_len, head_dim // 2)
    return torch.polar(torch.ones_like(angles), angles).to(torch.complex64).to(device)


def apply_rope(x: torch.Tensor, cis: torch.Tensor) -> torch.Tensor:
    """Rotate adjacent pairs of the last dimension.

    Args:
        x: float32 (B, T, n_heads, head_dim); the last dimension must have stride 1.
        cis: complex64 (T, head_dim // 2), the rows of :func:`rope_frequencies`
            for the T positions of ``x``.
    Returns:
        float32 (B, T, n_heads, head_dim), a new tensor.
    """
    pairs = torch.view_as_complex(x.unflatten(-1, (-1, 2)))  # (B, T, n_heads, head_dim // 2)
    return torch.view_as_real(pairs * cis[:, None, :]).flatten(-2)


def llama3_factors(
    head_dim: int, base: float, factor: float, low_freq_factor: float, high_freq_factor: float, original_context: int
) -> np.ndarray:
    """Llama 3's per-pair frequency divisors, as llama.cpp's converter writes them into ``rope_freqs``.

    Wavelengths shorter than ``original_context / high_freq_factor`` keep their
    frequency, those longer than ``original_context / low_freq_factor`` are
    slowed by ``factor``, and those between are blended smoothly.
    """
    out = []
    for j in range(0, head_dim, 2):
        wavelen = 2 * math.pi * base ** (j / head_dim)
        if wavelen < original_context / high_freq_factor:
            out.append(1.0)
        elif wavelen > original_context / low_freq_factor:
            out.append(factor)
        else:
            smooth = (original_context / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
            out.append(1.0 / ((1.0 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float64)


def interleave_heads(w: np.ndarray, n_heads: int) -> np.ndarray:
    """Reorder the rows of each head from halves (HF, NEOX) to adjacent pairs: llama.cpp's converter permutation.

    Args:
        w: (n_heads * head_dim, ...) rows of a Q or K projection, its bias or per-head norm weight
            (a norm's (head_dim,) weight passes as ``n_heads=1``).
    Returns:
        the same shape, row ``i`` of a head's second half now following row ``i`` of its first half.
    """
    shape = w.shape
    return np.ascontiguousarray(w.reshape(n_heads, 2, shape[0] // n_heads // 2, *shape[1:]).swapaxes(1, 2)).reshape(
        shape
    )
