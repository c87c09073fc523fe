"""The Llama decoder: Block and LlamaModel over the layers of :mod:`rag.model.layers` (read bottom-up).

The other architectures (:mod:`rag.model.config`) are the same graph with optional parts: a Q/K/V
bias, per-head Q/K norms, soft-capped or sliding-window attention (with a rope of its own on the
sliding layers), a GELU gate, norms after each sub-layer, a scaled embedding and soft-capped logits;
each is None or off for a Llama.

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

import numpy as np
import torch
from torch import nn

from core.errors import ConfigError
from rag.model import fused
from rag.model.config import LlamaConfig
from rag.model.decode_step import DecodeStep, StepWeights
from rag.model.kv_cache import KVCache
from rag.model.layers import Attention, FeedForward, RMSNorm, Step
from rag.model.rope import llama3_factors, rope_frequencies
from rag.model.step import Q4, Products

# One sequence's passes up to this length take the one-call step (decoding, drafts, short prompts), a longer
# one the BLAS path (a float32 copy of every weight per pass: a fixed cost, then fast float products). Where
# the layers are 4-bit groups (their kernel does 25 G int8 MACs/s a core) the step stays faster for longer:
# on one thread it ran 64 tokens at 155 tokens/s of CPU against BLAS's 114 and 161 at 145 against 196; with
# the pool, BLAS's copy is shared too and the two met near 48 tokens before the 4-bit kernel's last speedup.
# 8-bit layers (K-quant blocks; Q5_0 too, measured while it was held as int8 groups) lose to BLAS by 64 tokens
# already (40 against 50); 5-bit groups keep the 40-token limit until measured with their own kernel.
# The step runs a prompt in passes of at most STEP_PASS_TOKENS tokens (its time per token is flat past 16).
STEP_MAX_TOKENS = 40
STEP_MAX_TOKENS_4BIT = (96, 64)  # one thread, several
STEP_PASS_TOKENS = 64


def _four_bit_share(products: Products) -> float:
    """The share of the layers' weights (the output layer aside: a prompt's pass runs it on one row) in 4-bit groups."""
    parts = products.parts[: products.first[-2]]
    size = parts[:, 2] * parts[:, 3]
    return float(size[parts[:, 0] == Q4].sum() / max(int(size.sum()), 1))


class Block(nn.Module):
    """One decoder layer, with a hook for a cross-attention module.

    ``cross_attn`` is None by default; when a module is attached it is applied
    between self-attention and the feed-forward as a residual,
    ``h = h + cross_attn(h, context)``, where ``context`` is whatever the caller
    passed to :meth:`LlamaModel.forward` (e.g. encoded retrieved chunks). A context
    with a ``begin(tokens, start)`` method is told where each pass starts before the
    layers run (:mod:`rag.model.retro` reads positions that way). ``post_norms``
    (Gemma) normalize the attention's and the feed-forward's outputs before they join the residual.
    """

    def __init__(
        self,
        attn_norm: RMSNorm,
        attn: Attention,
        ffn_norm: RMSNorm,
        ffn: FeedForward,
        post_norms: tuple[RMSNorm, RMSNorm] | None = None,
    ) -> None:
        super().__init__()
        self.attn_norm, self.attn, self.ffn_norm, self.ffn = attn_norm, attn, ffn_norm, ffn
        self.post_attn_norm, self.post_ffn_norm = post_norms if post_norms is not None else (None, None)
        self.cross_attn: nn.Module | None
        self.register_module("cross_attn", None)  # a registered slot: an attached module becomes a submodule

    def forward(self, x: torch.Tensor, step: Step, layer: int, context: object = None) -> torch.Tensor:
        a = self.attn(self.attn_norm(x, step), step, layer)
        h = x + (a if self.post_attn_norm is None else self.post_attn_norm(a, step))
        if self.cross_attn is not None:
            h = h + self.cross_attn(h, context)
        f = self.ffn(self.ffn_norm(h, step), step)
        return h + (f if self.post_ffn_norm is None else self.post_ffn_norm(f, step))


class LlamaModel(nn.Module):
    """Token ids -> next-token logits.

    Attributes:
        config: the hyper-parameters.
        quant: the quantization mode the linear layers were built with.
        layers: the decoder blocks; ``layers[i].cross_attn`` is the hook point.
    """

    def __init__(
        self,
        config: LlamaConfig,
        embed: nn.Module,
        layers: list[Block],
        norm: RMSNorm,
        output: nn.Module,
        quant: str,
        rope_factors: np.ndarray | None = None,
    ) -> None:
        """``rope_factors``: per-pair rope frequency divisors (a GGUF's ``rope_freqs``); None: from the config."""
        super().__init__()
        self.config, self.quant = config, quant
        self.embed, self.layers, self.norm, self.output = embed, nn.ModuleList(layers), norm, output
        c = config
        if rope_factors is None and c.rope_scaling is not None:
            s = c.rope_scaling
            rope_factors = llama3_factors(
                c.head_dim, c.rope_base, s.factor, s.low_freq_factor, s.high_freq_factor, s.original_context
            )
        cis = rope_frequencies(c.head_dim, c.rope_base, c.max_seq_len, factors=rope_factors, linear=c.rope_linear)
        self.register_buffer("cis", cis, persistent=False)  # complex64 (max_seq_len, head_dim // 2)
        # sliding-window layers' own rotations, unscaled (Gemma 3); None: they rotate as the global ones
        local = rope_frequencies(c.head_dim, c.rope_local_base, c.max_seq_len) if c.rope_local_base else None
        self.register_buffer("local_cis", local, persistent=False)
        self.use_fused = True  # False forces the plain torch path (tests compare the two)
        self.decode_step: DecodeStep | None = None  # the one-call step for int4 models (see attach_decode_step)
        self._step_4bit = False  # whether the step's layers are (almost) all 4-bit groups

    def attach_decode_step(self, threads: int = 1) -> None:
        """Run few-token passes of one sequence through :mod:`rag.model.step` (int4 models only; else no-op)."""
        weights = StepWeights.from_model(self)
        self.decode_step = DecodeStep(weights, threads) if weights is not None else None
        self._step_4bit = weights is not None and _four_bit_share(weights.products) >= 0.9

    def step_max_tokens(self) -> int:
        """The longest pass that takes the one-call step (longer ones take the BLAS path); 0 without a step."""
        if self.decode_step is None:
            return 0
        if not self._step_4bit:
            return STEP_MAX_TOKENS
        return STEP_MAX_TOKENS_4BIT[0 if self.decode_step.threads == 1 else 1]

    def warm_up(self) -> None:
        """Load every compiled kernel now (a few tenths of a second), so that the first request does not wait.

        Runs a pass longer than the step takes (the BLAS path of prefill) and one through each kind of step.
        """
        if self.device.type != "cpu":
            return
        with torch.inference_mode():
            n = max(self.step_max_tokens(), STEP_MAX_TOKENS) + 1
            self(torch.zeros(1, n, dtype=torch.long), self.new_cache(n))
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
        if cpu and cache is not None and tokens.shape[0] == 1 and T <= self.step_max_tokens():
            if self._plain_layers():
                return self._step_passes(tokens, start, cache, last_only)
        step = self._step(tokens, start, cache, cpu)
        h = self._embed(tokens)  # (B, T, dim)
        for i, layer in enumerate(self.layers):
            h = layer(h, step, i, context)
        if last_only:
            h = h[:, -1:]
        logits = self.output(self.norm(h, step))
        cap = self.config.final_softcap
        return logits if not cap else torch.tanh(logits / cap) * cap

    def _step_passes(self, tokens: torch.Tensor, start: int, cache: KVCache, last_only: bool) -> torch.Tensor:
        """The logits of :meth:`_pass` by the compiled step, in passes of at most ``STEP_PASS_TOKENS`` tokens.

        A pass before the last computes no logits when only the last position's are asked for.
        """
        T, logits = tokens.shape[1], []
        for a in range(0, T, STEP_PASS_TOKENS):
            b = min(a + STEP_PASS_TOKENS, T)
            rot = torch.view_as_real(self.cis[start + a : start + b]).numpy()
            n_out = (1 if b == T else 0) if last_only else b - a
            logits.append(self.decode_step(tokens[:, a:b], cache, start + a, rot, n_out))
        return logits[0] if len(logits) == 1 else torch.cat(logits, dim=1)

    def _embed(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.embed(tokens)
        return h if self.config.embed_scale == 1.0 else h * self.config.embed_scale

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
        local = None if self.local_cis is None else self.local_cis[start : start + T]
        mask = None
        if start > 0 and T > 1:  # new queries see the whole cache and the new tokens causally
            mask = torch.ones(T, start + T, dtype=torch.bool, device=tokens.device).tril(start)
        fast = cpu and tokens.numel() <= fused.MAX_TOKENS

        def rot(c: torch.Tensor | None) -> np.ndarray | None:
            return torch.view_as_real(c).numpy() if fast and c is not None else None

        return Step(start, cis, cache, mask, fast, rot(cis), local, rot(local))

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
        h = self._embed(tokens)
        for i, layer in enumerate(self.layers[:n_layers]):
            h = layer(h, step, i)
        return h
