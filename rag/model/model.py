"""The Llama decoder: RMSNorm, Attention, FeedForward, Block, LlamaModel (read bottom-up).

Weights come from :mod:`rag.model.loader`; a linear layer is any module mapping
(..., in) -> (..., out), so one graph serves every quantization mode. Q, K and
V are one fused projection and so are the gate and up projections: fewer,
larger products cost less per decoded token than many small ones.

Every module has two paths. Inputs of up to ``fused.MAX_TOKENS`` tokens on the
CPU (decoding, speculative verification) run numba kernels that replace runs
of small torch operators; anything else runs plain torch operators. Tests hold
the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.errors import ConfigError
from rag.model import fused
from rag.model.config import LlamaConfig
from rag.model.decode_step import DecodeStep, StepWeights
from rag.model.kv_cache import KVCache
from rag.model.rope import apply_rope, rope_frequencies

# One sequence's passes up to this length take the one-call step (decoding, drafts, short prompts);
# measured on 2 cores: the step runs 38 tokens at 360 tokens/s, the BLAS path at 270, and 48 at 340 against 400.
STEP_MAX_TOKENS = 40


@dataclass
class Step:
    """What every layer needs to know about the current forward pass."""

    start: int  # position of the first new token
    cis: torch.Tensor  # complex64 (T, head_dim // 2): rotations of the new positions
    cache: KVCache | None
    mask: torch.Tensor | None  # bool (T, start + T) where the torch path needs an explicit mask
    fused: bool  # whether the numba kernels apply (few tokens, CPU, no autograd)
    rot: np.ndarray | None = None  # float32 (T, head_dim // 2, 2): cis as (cos, sin), for the kernels


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

    The 1/sqrt(head_dim) softmax scale is folded into the Q rows of ``wqkv`` by
    the loader, so scores here are plain dot products.
    """

    def __init__(self, config: LlamaConfig, wqkv: nn.Module, wo: nn.Module) -> None:
        super().__init__()
        self.n_heads, self.n_kv_heads, self.head_dim = config.n_heads, config.n_kv_heads, config.head_dim
        self.wqkv = wqkv  # dim -> (n_heads + 2 * n_kv_heads) * head_dim: rows of Q, then K, then V
        self.wo = wo

    def forward(self, x: torch.Tensor, step: Step, layer: int) -> torch.Tensor:
        B, T, _ = x.shape
        H, KV, hd = self.n_heads, self.n_kv_heads, self.head_dim
        qkv = self.wqkv(x)  # (B, T, (H + 2 KV) * hd)
        if step.fused and step.cache is not None:
            out = torch.empty(B, T, H * hd)
            step.cache.reserve(step.start + T)
            qkv_np, out_np = qkv.contiguous().numpy(), out.numpy()
            k_np, v_np = step.cache.arrays()
            for b in range(B):
                fused.attend(qkv_np[b], step.rot, k_np[layer, b], v_np[layer, b], step.start, H, out_np[b])
            return self.wo(out)
        qk = apply_rope(qkv[..., : (H + KV) * hd].unflatten(-1, (H + KV, hd)), step.cis)  # (B, T, H + KV, hd)
        q = qk[:, :, :H].transpose(1, 2)  # (B, H, T, hd)
        k = qk[:, :, H:].transpose(1, 2)  # (B, KV, T, hd)
        v = qkv[..., (H + KV) * hd :].unflatten(-1, (KV, hd)).transpose(1, 2)  # (B, KV, T, hd)
        if step.cache is not None:
            k, v = step.cache.update(layer, step.start, k, v)  # (B, KV, start + T, hd)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=step.mask, is_causal=step.mask is None and T > 1, scale=1.0, enable_gqa=KV != H
        )  # (B, H, T, hd)
        return self.wo(out.transpose(1, 2).reshape(B, T, H * hd))


class FeedForward(nn.Module):
    """SwiGLU: down(silu(gate(x)) * up(x))."""

    def __init__(self, w_gate_up: nn.Module, w_down: nn.Module) -> None:
        super().__init__()
        self.w_gate_up = w_gate_up  # dim -> 2 * ffn_dim: gate rows, then up rows
        self.w_down = w_down

    def forward(self, x: torch.Tensor, step: Step) -> torch.Tensor:
        gate_up = self.w_gate_up(x)  # (B, T, 2 F)
        if step.fused:
            hidden = torch.empty(*gate_up.shape[:-1], gate_up.shape[-1] // 2)
            fused.swiglu(_rows(gate_up).numpy(), _rows(hidden).numpy())
        else:
            gate, up = gate_up.chunk(2, dim=-1)
            hidden = F.silu(gate) * up
        return self.w_down(hidden)


class Block(nn.Module):
    """One decoder layer, with a hook for a cross-attention module.

    ``cross_attn`` is None by default; when a module is attached it is applied
    between self-attention and the feed-forward as a residual,
    ``h = h + cross_attn(h, context)``, where ``context`` is whatever the caller
    passed to :meth:`LlamaModel.forward` (e.g. encoded retrieved chunks). A context
    with a ``begin(tokens, start)`` method is told where each pass starts before the
    layers run (:mod:`rag.model.retro` reads positions that way).
    """

    def __init__(self, attn_norm: RMSNorm, attn: Attention, ffn_norm: RMSNorm, ffn: FeedForward) -> None:
        super().__init__()
        self.attn_norm, self.attn, self.ffn_norm, self.ffn = attn_norm, attn, ffn_norm, ffn
        self.cross_attn: nn.Module | None
        self.register_module("cross_attn", None)  # a registered slot: an attached module becomes a submodule

    def forward(self, x: torch.Tensor, step: Step, layer: int, context: object = None) -> torch.Tensor:
        h = x + self.attn(self.attn_norm(x, step), step, layer)
        if self.cross_attn is not None:
            h = h + self.cross_attn(h, context)
        return h + self.ffn(self.ffn_norm(h, step), step)


class LlamaModel(nn.Module):
    """Token ids -> next-token logits.

    Attributes:
        config: the hyper-parameters.
        quant: the quantization mode the linear layers were built with.
        layers: the decoder blocks; ``layers[i].cross_attn`` is the hook point.
    """

    def __init__(
        self, config: LlamaConfig, embed: nn.Module, layers: list[Block], norm: RMSNorm, output: nn.Module, quant: str
    ) -> None:
        super().__init__()
        self.config, self.quant = config, quant
        self.embed, self.layers, self.norm, self.output = embed, nn.ModuleList(layers), norm, output
        self.register_buffer(
            "cis", rope_frequencies(config.head_dim, config.rope_base, config.max_seq_len), persistent=False
        )  # complex64 (max_seq_len, head_dim // 2)
        self.use_fused = True  # False forces the plain torch path (tests compare the two)
        self.decode_step: DecodeStep | None = None  # the one-call step for int4 models (see attach_decode_step)

    def attach_decode_step(self, threads: int = 1) -> None:
        """Run few-token passes of one sequence through :mod:`rag.model.step` (int4 models only; else no-op)."""
        weights = StepWeights.from_model(self)
        self.decode_step = DecodeStep(weights, threads) if weights is not None else None

    def warm_up(self) -> None:
        """Load every compiled kernel now (a few tenths of a second), so that the first request does not wait.

        Runs a pass longer than the step takes (the BLAS path of prefill) and one through each kind of step.
        """
        if self.device.type != "cpu":
            return
        with torch.inference_mode():
            self(torch.zeros(1, STEP_MAX_TOKENS + 1, dtype=torch.long), self.new_cache(STEP_MAX_TOKENS + 1))
            if self.decode_step is not None:
                self.decode_step.warm_up(self.new_cache(1), torch.view_as_real(self.cis[:1]).numpy())

    def _plain_layers(self) -> bool:
        return all(layer.cross_attn is None for layer in self.layers)

    @property
    def device(self) -> torch.device:
        return self.cis.device

    def new_cache(self, max_len: int, batch: int = 1) -> KVCache:
        return KVCache(self.config, max_len, batch, device=self.device)

    def forward(
        self, tokens: torch.Tensor, cache: KVCache | None = None, context: object = None, last_only: bool = False
    ) -> torch.Tensor:
        """Run T new tokens; with a cache they continue what the cache holds.

        Args:
            tokens: int64 (B, T).
            cache: written at positions ``cache.length .. cache.length + T - 1``,
                then asked to advance by T; None runs the tokens as a whole sequence.
            context: passed to every attached ``cross_attn`` module.
            last_only: compute logits for the last position only (prefill).
        Returns:
            float32 (B, T, vocab), or (B, 1, vocab) with ``last_only``.
        """
        T = tokens.shape[1]
        start = cache.length if cache is not None else 0
        self._check_positions(start + T)
        begin = getattr(context, "begin", None)
        if begin is not None:
            begin(tokens, start)
        logits = self._pass(tokens, start, cache, context, last_only)
        if cache is not None:
            cache.advance(T)
        return logits

    def _pass(
        self, tokens: torch.Tensor, start: int, cache: KVCache | None, context: object, last_only: bool
    ) -> torch.Tensor:
        """The logits of :meth:`forward`, writing the cache from ``start`` without moving its position."""
        T = tokens.shape[1]
        cpu = self._cpu_kernels()
        if cpu and self.decode_step is not None and cache is not None and tokens.shape[0] == 1 and T <= STEP_MAX_TOKENS:
            if self._plain_layers():
                rot = torch.view_as_real(self.cis[start : start + T]).numpy()
                return self.decode_step(tokens, cache, start, rot, 1 if last_only else T)
        step = self._step(tokens, start, cache, cpu)
        h = self.embed(tokens)  # (B, T, dim)
        for i, layer in enumerate(self.layers):
            h = layer(h, step, i, context)
        if last_only:
            h = h[:, -1:]
        return self.output(self.norm(h, step))

    def _check_positions(self, end: int) -> None:
        if end > self.config.max_seq_len:
            raise ConfigError(
                f"{end} positions exceed the model's context of {self.config.max_seq_len}; "
                "shorten the prompt or max_tokens"
            )

    def _cpu_kernels(self) -> bool:
        """Whether the numba kernels may run: the fused path on the CPU, without autograd."""
        return self.use_fused and self.device.type == "cpu" and not torch.is_grad_enabled()

    def _step(self, tokens: torch.Tensor, start: int, cache: KVCache | None, cpu: bool) -> Step:
        """The per-pass state of T new tokens from ``start`` (the causal mask only where the torch path needs it)."""
        T = tokens.shape[1]
        cis = self.cis[start : start + T]
        mask = None
        if start > 0 and T > 1:  # new queries see the whole cache and the new tokens causally
            mask = torch.ones(T, start + T, dtype=torch.bool, device=tokens.device).tril(start)
        fast = cpu and tokens.numel() <= fused.MAX_TOKENS
        return Step(start, cis, cache, mask, fast, torch.view_as_real(cis).numpy() if fast else None)

    def hidden(self, tokens: torch.Tensor, n_layers: int) -> torch.Tensor:
        """The residual stream after the first ``n_layers`` blocks, without a cache or cross-attention.

        Args:
            tokens: int64 (B, T), a whole sequence from position 0.
            n_layers: blocks to run (0: the token embeddings).
        Returns:
            float32 (B, T, dim).
        """
        self._check_positions(tokens.shape[1])
        step = self._step(tokens, 0, None, self._cpu_kernels())
        h = self.embed(tokens)
        for i, layer in enumerate(self.layers[:n_layers]):
            h = layer(h, step, i)
        return h
