"""The decoder's layers: RMSNorm, Attention and FeedForward, and the ``Step`` every layer reads (bottom-up).

:mod:`rag.model.model` stacks them into blocks and the model. Every layer has two paths:
inputs of up to ``fused.MAX_TOKENS`` tokens on the CPU run numba kernels that replace runs
of small torch operators; anything else runs plain torch operators. Tests hold the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rag.model import fused
from rag.model.config import LlamaConfig
from rag.model.kv_cache import KVCache
from rag.model.rope import apply_rope


@dataclass
class Step:
    """What every layer needs to know about the current forward pass."""

    start: int  # position of the first new token
    cis: torch.Tensor  # complex64 (T, head_dim // 2): rotations of the new positions
    cache: KVCache | None
    mask: torch.Tensor | None  # bool (T, start + T) where the torch path needs an explicit mask
    fused: bool  # whether the numba kernels apply (few tokens, CPU, no autograd)
    rot: np.ndarray | None = None  # float32 (T, head_dim // 2, 2): cis as (cos, sin), for the kernels
    local_cis: torch.Tensor | None = None  # the same for sliding-window layers where their rope differs (Gemma 3)
    local_rot: np.ndarray | None = None  # local_cis as (cos, sin)

    def rotations(self, local: bool) -> tuple[torch.Tensor, np.ndarray | None]:
        """(cis, rot) of a global layer, or of a sliding one with ``local``."""
        if local and self.local_cis is not None:
            return self.local_cis, self.local_rot
        return self.cis, self.rot


def _rows(x: torch.Tensor) -> torch.Tensor:
    """(..., D) -> a contiguous (N, D) view."""
    return x.contiguous().view(-1, x.shape[-1])


class RMSNorm(nn.Module):
    def __init__(self, weight: torch.Tensor, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight, requires_grad=False)  # (dim,)
        self.eps = eps

    def forward(self, x: torch.Tensor, step: Step | None = None) -> torch.Tensor:
        if step is not None and step.fused:
            out = torch.empty(x.shape)
            fused.rms_norm(_rows(x).numpy(), self.weight.numpy(), self.eps, _rows(out).numpy())
            return out
        return F.rms_norm(x, self.weight.shape, self.weight, self.eps)


class Attention(nn.Module):
    """Grouped-query self-attention with rotary positions and a KV cache.

    The 1/sqrt(head_dim) softmax scale is folded into the Q rows of ``wqkv`` (and
    of ``bias``, or into ``q_norm``) by the loader, so scores here are plain dot products.
    A layer with a ``window`` is a sliding layer: it rotates with the step's local rope where
    the model has one (Gemma 3).
    """

    def __init__(
        self,
        config: LlamaConfig,
        wqkv: nn.Module,
        wo: nn.Module,
        bias: torch.Tensor | None = None,
        qk_norms: tuple[RMSNorm, RMSNorm] | None = None,
        window: int = 0,
    ) -> None:
        super().__init__()
        self.n_heads, self.n_kv_heads, self.head_dim = config.n_heads, config.n_kv_heads, config.head_dim
        self.wqkv = wqkv  # dim -> (n_heads + 2 * n_kv_heads) * head_dim: rows of Q, then K, then V
        self.wo = wo
        self.bias = None if bias is None else nn.Parameter(bias, requires_grad=False)  # ((H + 2 KV) * hd,)
        self.q_norm, self.k_norm = qk_norms if qk_norms is not None else (None, None)  # per head, (hd,)
        self.softcap, self.window = config.attn_softcap, window  # 0: off

    def forward(self, x: torch.Tensor, step: Step, layer: int) -> torch.Tensor:
        B, T, _ = x.shape
        H, KV, hd = self.n_heads, self.n_kv_heads, self.head_dim
        qkv = self.wqkv(x)  # (B, T, (H + 2 KV) * hd)
        if self.bias is not None:
            qkv = qkv + self.bias
        if self.q_norm is not None:
            qkv = self._norm_heads(qkv)
        cis, rot = step.rotations(self.window > 0)
        # soft-capping, or a window that some query's history exceeds, needs the explicit attention
        explicit = self.softcap or (self.window and step.start + T > self.window)
        if not explicit and step.fused and step.cache is not None:
            out = torch.empty(B, T, H * hd)
            step.cache.reserve(step.start + T)
            qkv_np, out_np = qkv.contiguous().numpy(), out.numpy()
            k_np, v_np = step.cache.arrays()
            for b in range(B):
                fused.attend(qkv_np[b], rot, k_np[layer, b], v_np[layer, b], step.start, H, out_np[b])
            return self.wo(out)
        qk = apply_rope(qkv[..., : (H + KV) * hd].unflatten(-1, (H + KV, hd)), cis)  # (B, T, H + KV, hd)
        q = qk[:, :, :H].transpose(1, 2)  # (B, H, T, hd)
        k = qk[:, :, H:].transpose(1, 2)  # (B, KV, T, hd)
        v = qkv[..., (H + KV) * hd :].unflatten(-1, (KV, hd)).transpose(1, 2)  # (B, KV, T, hd)
        if step.cache is not None:
            k, v = step.cache.update(layer, step.start, k, v)  # (B, KV, start + T, hd)
        if not explicit:
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=step.mask, is_causal=step.mask is None and T > 1, scale=1.0, enable_gqa=KV != H
            )  # (B, H, T, hd)
        else:
            out = self._attend_explicit(q, k, v, step.start)
        return self.wo(out.transpose(1, 2).reshape(B, T, H * hd))

    def _norm_heads(self, qkv: torch.Tensor) -> torch.Tensor:
        """RMSNorm each Q and each K head (Qwen3, Gemma 3); V passes as it is."""
        H, KV, hd = self.n_heads, self.n_kv_heads, self.head_dim
        q = self.q_norm(qkv[..., : H * hd].unflatten(-1, (H, hd))).flatten(-2)
        k = self.k_norm(qkv[..., H * hd : (H + KV) * hd].unflatten(-1, (KV, hd))).flatten(-2)
        return torch.cat([q, k, qkv[..., (H + KV) * hd :]], dim=-1)

    def _attend_explicit(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, start: int) -> torch.Tensor:
        """Attention with soft-capped scores and/or a sliding window, which SDPA cannot express (Gemma, Phi-3).

        q (B, H, T, hd) at positions start..start+T-1; k, v (B, KV, S, hd) at positions 0..S-1.
        """
        rep = self.n_heads // self.n_kv_heads
        scores = q @ k.repeat_interleave(rep, dim=1).transpose(-1, -2)  # (B, H, T, S)
        if self.softcap:
            scores = torch.tanh(scores / self.softcap) * self.softcap
        q_pos = torch.arange(start, start + q.shape[2], device=q.device)[:, None]
        k_pos = torch.arange(k.shape[2], device=q.device)[None, :]
        allowed = k_pos <= q_pos
        if self.window:
            allowed &= q_pos - k_pos < self.window
        weights = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)
        return weights @ v.repeat_interleave(rep, dim=1)


class FeedForward(nn.Module):
    """SwiGLU: down(silu(gate(x)) * up(x)); with ``gelu`` GeGLU (Gemma), the gate through tanh-approximated GELU."""

    def __init__(self, w_gate_up: nn.Module, w_down: nn.Module, gelu: bool = False) -> None:
        super().__init__()
        self.w_gate_up = w_gate_up  # dim -> 2 * ffn_dim: gate rows, then up rows
        self.w_down = w_down
        self.gelu = gelu

    def forward(self, x: torch.Tensor, step: Step) -> torch.Tensor:
        gate_up = self.w_gate_up(x)  # (B, T, 2 F)
        if self.gelu:
            gate, up = gate_up.chunk(2, dim=-1)
            hidden = F.gelu(gate, approximate="tanh") * up
        elif step.fused:
            hidden = torch.empty(*gate_up.shape[:-1], gate_up.shape[-1] // 2)
            fused.swiglu(_rows(gate_up).numpy(), _rows(hidden).numpy())
        else:
            gate, up = gate_up.chunk(2, dim=-1)
            hidden = F.silu(gate) * up
        return self.w_down(hidden)
