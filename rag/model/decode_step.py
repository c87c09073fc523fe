"""The fused decoding step (:mod:`rag.model.step`) bound to a model, and which thread count runs it.

:class:`StepWeights` lists the arrays of a quantized model's layers as the
step takes them (the modules' own arrays, no second copy): every layer type
the loader makes in the default mode (4-, 5- and 8-bit groups, 8-bit blocks,
fused projections of parts of different types), for Llamas and Qwen 2.
:class:`DecodeStep` runs a few-token forward pass through the compiled step
and decides, from what it measures, whether the thread pool pays.

Why measure: on a quiet 2-core machine two threads decode faster than one,
but the step has ~150 parallel regions per token, each ending in a barrier;
when another process keeps a core busy, a barrier waits for a descheduled
thread for up to a scheduler time slice and two threads fall far below one.
The runner therefore times both kinds of step, keeps the faster, and probes
the other now and then (less and less often while the probes lose, since a
probe of the pool on a loaded machine is a slow step), so it follows the
machine's load: at once when the kind in use slows down, within the probe
interval when the other would speed up. Both kinds give bit-identical
logits, so the choice never changes the output.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rag.model.block_quant import Int8BlockLinear
from rag.model.config import LlamaConfig
from rag.model.group_quant import GroupEmbedding, Int4Linear, Int8GroupLinear, RowConcat
from rag.model.kv_cache import KVCache
from rag.model.q5_quant import Int5GroupLinear
from rag.model.step import BLOCK, Q4, Q5, Q8, Products, step_parallel, step_serial
from rag.model.tile_kernels import TILE

# each kernel's layer and the arrays of it that the step reads, with their dtypes
_KERNELS: dict[type, tuple[int, tuple[tuple[str, type], ...]]] = {
    Int4Linear: (Q4, (("q", np.uint8), ("d", np.uint16), ("m", np.uint16))),
    Int8GroupLinear: (Q8, (("q", np.uint8), ("d", np.uint16))),
    Int8BlockLinear: (BLOCK, (("q", np.int8), ("sc", np.int8), ("mn", np.int8), ("d", np.uint16), ("dmin", np.uint16))),
    Int5GroupLinear: (Q5, (("q", np.uint8), ("h", np.uint16), ("d", np.uint16), ("m", np.uint16))),
}


def runs_in_step(config: LlamaConfig) -> bool:
    """Whether the step computes this architecture: a Llama, with or without a Q/K/V bias (Qwen 2)."""
    return (
        config.head_dim * config.n_heads == config.dim
        and not (config.qk_norm or config.post_norms or config.gelu or config.final_softcap)
        and config.embed_scale == 1.0
        and not config.fused_attention_off
    )


@dataclass
class StepWeights:
    """A quantized model's weights as the compiled step takes them (the modules' own arrays, not copies)."""

    norms: np.ndarray  # float32 (L, 2, D)
    bias: np.ndarray  # float32 (L, (H + 2 KV) * hd): the Q/K/V bias; (L, 0) without one
    products: Products  # every linear layer, the output layer last
    head_norm: np.ndarray  # float32 (D,): the final norm
    embed: nn.Module  # the embedding table: ``rows(ids)`` gives float32 rows
    vocab: int
    eps: float
    n_heads: int
    ffn_dim: int

    @classmethod
    def from_model(cls, model: torch.nn.Module) -> StepWeights | None:
        """The step's view of ``model``, or None when a layer or the architecture is one the step lacks."""
        config, layers = model.config, list(model.layers)
        if model.quant != "int4" or not runs_in_step(config) or not isinstance(model.embed, GroupEmbedding):
            return None
        linears = [m for b in layers for m in (b.attn.wqkv, b.attn.wo, b.ffn.w_gate_up, b.ffn.w_down)]
        products = _products([*linears, model.output])
        if products is None:
            return None
        norms = np.stack([np.stack([b.attn_norm.weight.numpy(), b.ffn_norm.weight.numpy()]) for b in layers])
        biases = [b.attn.bias for b in layers]
        bias = np.stack([b.numpy() for b in biases]) if biases[0] is not None else np.zeros((len(layers), 0))
        return cls(
            norms=np.ascontiguousarray(norms, dtype=np.float32),
            bias=np.ascontiguousarray(bias, dtype=np.float32),
            products=products,
            head_norm=model.norm.weight.numpy(),
            embed=model.embed.table,
            vocab=model.output.out_features,
            eps=float(config.norm_eps),
            n_heads=config.n_heads,
            ffn_dim=config.ffn_dim,
        )


def _products(linears: list[nn.Module]) -> Products | None:
    """Products of ``linears`` (4 per layer, then the output layer); None if one has a part of no kernel.

    Each kernel's arrays are moved into one flat buffer per field, and the modules then use views of
    them (as :func:`_flatten` says), so the weights are held once.
    """
    parts, first, widths, members = [], [0], np.zeros(5, np.int64), []
    for s, linear in enumerate(linears):
        slot, col = (s % 4 if s < len(linears) - 1 else 4), 0
        for part in linear.parts if isinstance(linear, RowConcat) else [linear]:
            if type(part) not in _KERNELS:
                return None
            nt, groups = part.q.shape[:2]
            blocks = part.m.shape[1] if isinstance(part, Int5GroupLinear) else part.d.shape[1]
            parts.append([_KERNELS[type(part)][0], col, nt, groups, blocks])
            members.append(part)
            # a part's padding rows spill into the next part's columns, which that part then overwrites
            widths[slot] = max(widths[slot], col + nt * TILE)
            col += part.out_features
        first.append(len(parts))
    buffers = {
        kind: _flatten([m for m in members if type(m) is cls], fields) for cls, (kind, fields) in _KERNELS.items()
    }
    offsets = {kind: iter(rows) for kind, (_, rows) in buffers.items()}
    table = np.array([row + next(offsets[row[0]]) + [0] * (5 - len(_FIELDS[row[0]])) for row in parts], np.int64)
    table = table.reshape(-1, 10)
    return Products(buffers[Q4][0], buffers[Q8][0], buffers[BLOCK][0], buffers[Q5][0], table, np.array(first), widths)


_FIELDS = {kind: fields for kind, fields in _KERNELS.values()}


def _flatten(modules: list[nn.Module], fields: tuple[tuple[str, type], ...]) -> tuple[tuple, list[list[int]]]:
    """One flat buffer per field holding every module's array in turn; each module's array becomes a view of it.

    Returns the buffers and, per module, the offset of its array in each. Each array is copied and released
    in turn, so the weights are held about once (plus one array) meanwhile.
    """
    sizes = [[getattr(m, name).size for name, _ in fields] for m in modules]
    buffers = tuple(np.empty(sum(row[i] for row in sizes), dtype) for i, (_, dtype) in enumerate(fields))
    offsets, at = [], [0] * len(fields)
    for m, row in zip(modules, sizes):
        offsets.append(list(at))
        for i, (name, _) in enumerate(fields):
            a = getattr(m, name)
            view = buffers[i][at[i] : at[i] + row[i]].reshape(a.shape)
            view[...] = a
            setattr(m, name, view)
            at[i] += row[i]
    return buffers, offsets


class SpareCpus:
    """How many CPUs the rest of the machine left idle since the last call (Linux; None elsewhere).

    Busy time of every CPU (``/proc/stat``) minus the calling thread's own CPU
    time, over the wall time between two calls: what other processes, and this
    process's other threads (an ingest's embedder), took.
    """

    def __init__(self) -> None:
        self.cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        self._last = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float] | None:
        try:
            fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        except OSError:
            return None
        ticks = [int(f) for f in fields]
        busy = (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait
        return time.perf_counter(), busy, time.thread_time()

    def __call__(self) -> float | None:
        now = self._sample()
        last, self._last = self._last, now
        if now is None or last is None or now[0] - last[0] < 0.05:
            return None
        others = max(0.0, (now[1] - last[1]) - (now[2] - last[2]))
        return self.cpus - 1 - others / (now[0] - last[0])  # CPUs beside the one this thread runs on


class DecodeStep:
    """Runs few-token forward passes of one sequence through the compiled step.

    Args:
        weights: the stacked weights.
        threads: the most threads a step may use (1 never touches the pool).
        probe_every: steps before the first trial of the kind not in use; the interval doubles (up to
            ``max_interval``) each time a trial loses, and resets when the choice changes.
    """

    def __init__(self, weights: StepWeights, threads: int = 1, probe_every: int = 32, max_interval: int = 1024) -> None:
        self.weights = weights
        self.threads = max(1, threads)
        self.probe_every, self.max_interval = probe_every, max_interval
        self.use_pool = False  # one thread until the pool has shown it is faster
        self._times: dict[bool, list[float]] = {False: [], True: []}  # recent one-token step seconds, serial / pool
        self._interval = probe_every  # steps between probes: doubles each time a probe loses
        self._countdown = 0  # the first look at the pool comes right after two one-thread steps
        self._probing = 0  # pool steps left in the current probe
        self._spare = SpareCpus()

    def __call__(self, tokens: torch.Tensor, cache: KVCache, start: int, rot: np.ndarray, n_out: int) -> torch.Tensor:
        """Logits float32 (1, n_out, vocab) of the last ``n_out`` of ``tokens`` (int64 (1, T)).

        Writes the cache at positions ``start .. start + T - 1``; moving the cache's position is the caller's
        request to the cache (:meth:`KVCache.advance`), not the step's.
        """
        T = tokens.shape[1]
        pool = self._choose() if T == 1 else self._choose_long()
        t0 = time.perf_counter()
        logits = self._run(pool, tokens, cache, start, rot, n_out)
        if T == 1:  # the choice is made on single-token steps, the most frequent and comparable ones
            self._record(pool, time.perf_counter() - t0)
        if pool and not self.use_pool:  # the pool's own threads just ran: count other work from here on
            self._spare = SpareCpus()  # (while the pool is in use nobody looks, so no /proc read per token)
        return logits

    def _run(
        self, pool: bool, tokens: torch.Tensor, cache: KVCache, start: int, rot: np.ndarray, n_out: int
    ) -> torch.Tensor:
        w = self.weights
        cache.reserve(start + tokens.shape[1])
        h = np.ascontiguousarray(w.embed.rows(tokens[0]).numpy(), dtype=np.float32)
        logits = torch.empty(n_out, w.vocab)
        k, v = cache.arrays()
        step, chunks = (step_parallel, 4 * self.threads) if pool else (step_serial, 1)
        layers = (w.norms, w.eps, w.bias, w.products)
        step(h, start, rot, *layers, k[:, 0], v[:, 0], w.n_heads, w.ffn_dim, w.head_norm, chunks, logits.numpy())
        return logits[None]

    def warm_up(self, cache: KVCache, rot: np.ndarray) -> None:
        """Load (or compile) both kinds of step now, so the first request does not pay for it."""
        for pool in {False, self.threads > 1}:
            self._run(pool, torch.zeros(1, 1, dtype=torch.long), cache, 0, rot, 1)
        self._spare = SpareCpus()  # what the warm-up's own threads did is not load

    def _choose(self) -> bool:
        """Which kind runs the next one-token step: the faster one, or a probe of the other."""
        if self.threads == 1:
            return False
        if len(self._times[False]) < 2:  # measure one thread first
            return False
        if self._probing:  # a probe of the pool lasts two steps: the first wakes its threads
            return True
        self._countdown -= 1
        if self._countdown > 0:
            return self.use_pool
        if self.use_pool:
            return False  # a probe of one thread
        spare = self._spare()  # CPU left over by others since the last look
        if spare is not None and spare < self.threads - 1.5:
            self._lost()  # the pool's other threads would queue behind busy CPUs: do not even try
            return False
        self._probing = 2
        return True

    def _choose_long(self) -> bool:
        """The kind for a pass of several tokens (a short prompt, a draft): the one in use, or before any step
        of the pool has been timed, the pool when the other CPUs are idle (a prompt has work enough to share)."""
        if self.threads == 1 or self.use_pool or self._times[True]:
            return self.use_pool
        spare = self._spare()
        if spare is None:  # too soon after the last look: the one-minute load average (this process counts)
            spare = self._spare.cpus - os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
        return spare >= self.threads - 1.5

    def _record(self, pool: bool, seconds: float) -> None:
        times = self._times[pool]
        times.append(seconds)
        del times[:-3]
        if pool and self._probing:
            self._probing -= 1
            if self._probing:
                return
        if not self._times[True] or len(self._times[False]) < 2:
            return
        faster = float(np.median(self._times[True][-2:])) < float(np.median(self._times[False]))
        probe = pool != self.use_pool
        if faster != self.use_pool:  # the other kind is now faster (a probe won, or the kind in use slowed down)
            self.use_pool, self._interval = faster, self.probe_every
            self._countdown = self._interval
        elif probe:
            self._lost()

    def _lost(self) -> None:
        """A probe lost (or was not worth trying): probe less often while the machine stays as it is."""
        self._interval = min(2 * self._interval, self.max_interval)
        self._countdown = self._interval
