"""The fused decoding step (:mod:`rag.model.step`) bound to a model, and which thread count runs it.

:class:`StepWeights` stacks the per-layer arrays of an int4 model along a
layer axis and points the modules at views of the stacks (no second copy).
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

from rag.model.group_quant import GroupEmbedding, Int4Linear, Int8GroupLinear
from rag.model.kv_cache import KVCache
from rag.model.step import step_parallel, step_serial


@dataclass
class StepWeights:
    """An int4 model's weights as the compiled step takes them."""

    norms: np.ndarray  # float32 (L, 2, D)
    wqkv: tuple[np.ndarray, np.ndarray, np.ndarray]  # (q, d, m) stacked over layers
    wo: tuple[np.ndarray, np.ndarray, np.ndarray]
    wgu: tuple[np.ndarray, np.ndarray, np.ndarray]
    wdn: tuple[np.ndarray, np.ndarray, np.ndarray]
    head: tuple[np.ndarray, np.ndarray, np.ndarray]  # final norm (D,), q int8 (NT, G, 32, TILE), d (NT, G, TILE)
    embed: Int8GroupLinear
    eps: float
    n_heads: int
    ffn_dim: int

    @classmethod
    def from_model(cls, model: torch.nn.Module) -> StepWeights | None:
        """Stack ``model``'s layers, or None when it is not an int4 model the step can run."""
        layers = list(model.layers)
        if model.quant != "int4" or not model.config.plain or not isinstance(model.output, Int8GroupLinear):
            return None
        if not isinstance(model.embed, GroupEmbedding) or model.embed.table is not model.output:
            return None
        linears = {
            "wqkv": [b.attn.wqkv for b in layers],
            "wo": [b.attn.wo for b in layers],
            "wgu": [b.ffn.w_gate_up for b in layers],
            "wdn": [b.ffn.w_down for b in layers],
        }
        if not all(isinstance(m, Int4Linear) for group in linears.values() for m in group):
            return None
        stacks = {name: _stack(group) for name, group in linears.items()}
        norms = np.stack([np.stack([b.attn_norm.weight.numpy(), b.ffn_norm.weight.numpy()]) for b in layers])
        config = model.config
        return cls(
            norms=np.ascontiguousarray(norms, dtype=np.float32),
            head=(model.norm.weight.numpy(), model.output.q, model.output.d),
            embed=model.output,
            eps=float(config.norm_eps),
            n_heads=config.n_heads,
            ffn_dim=config.ffn_dim,
            **stacks,
        )


def _stack(linears: list[Int4Linear]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stack the layers' (q, d, m) and make each module use its slice of the stacks."""
    q, d, m = (np.stack([getattr(lin, name) for lin in linears]) for name in ("q", "d", "m"))
    for i, lin in enumerate(linears):
        lin.q, lin.d, lin.m = q[i], d[i], m[i]
    return q, d, m


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
        logits = torch.empty(n_out, w.embed.out_features)
        k, v = cache.arrays()
        step, chunks = (step_parallel, 4 * self.threads) if pool else (step_serial, 1)
        layers = (w.norms, w.eps, w.wqkv, w.wo, w.wgu, w.wdn)
        step(h, start, rot, *layers, k[:, 0], v[:, 0], w.n_heads, w.ffn_dim, w.head, chunks, logits.numpy())
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
