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
exp(i * p * base^(-2j/head_dim)) for pair index j.
"""

from __future__ import annotations

import torch


def rope_frequencies(head_dim: int, base: float, max_len: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """The rotations for positions 0..max_len-1.

    Returns:
        complex64 (max_len, head_dim // 2): ``cis[p, j] = exp(i * p * base^(-2j/head_dim))``.
    """
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    angles = torch.outer(torch.arange(max_len, dtype=torch.float64), inv_freq)  # (max_len, head_dim // 2)
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
