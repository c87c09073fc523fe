"""What the chunked cross-attention reads: each chunk's encoded neighbours, fixed or retrieved as text is decoded.

A :class:`RetroContext` is passed as ``context`` to :meth:`rag.model.model.LlamaModel.forward`
(or :meth:`rag.model.generation.Decoder.tokens`). The model tells it where each forward pass
starts (:meth:`RetroContext.begin`); the CCA modules ask it for the neighbours of a chunk
(:meth:`RetroContext.memory`). Two ways to supply neighbours:

* ``fixed``: token ids (B, C, k, r) for chunks 0..C-1 (training, perplexity evaluation);
  encoded once, in one batch, on first use.
* ``source``: a callable that is given a chunk's index and token ids once the chunk is
  complete and returns its neighbours (generation: retrieval as the text is written).
  A chunk whose text changes (speculative tokens rolled back) is retrieved again.

With ``record`` set, the attention mass each neighbour received is summed
(:attr:`RetroContext.attention`), so an answer can cite what the model attended to.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from core.errors import ConfigError
from rag.model.retro.config import RetroConfig

# (tokens (N, r) int64, valid (N, r) bool) -> encoded neighbours (N, r, encoder_dim)
Encode = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Neighbour:
    """One retrieved neighbour: its token ids (the chunk, then its continuation) and a label for citations."""

    tokens: tuple[int, ...]
    label: object = None


# (chunk index, the chunk's token ids) -> its neighbours, best first
NeighbourSource = Callable[[int, Sequence[int]], Sequence[Neighbour]]


def pack(neighbours: Sequence[Sequence[int]], k: int, r: int, pad: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Up to k neighbours' token lists -> tokens (k, r) and valid (k, r); longer ones are cut to r tokens."""
    tokens = torch.full((k, r), pad, dtype=torch.long)
    valid = torch.zeros(k, r, dtype=torch.bool)
    for i, ids in enumerate(list(neighbours)[:k]):
        ids = list(ids)[:r]
        tokens[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        valid[i, : len(ids)] = True
    return tokens, valid


class RetroContext:
    """The neighbours of one forward pass or one generation.

    Args:
        config: the retrofit's shape.
        encode: encodes neighbour tokens (see :meth:`rag.model.retro.retrofit.Retrofit.encoder_for`).
        fixed: (tokens (B, C, k, r) int64, valid (B, C, k, r) bool) for chunks 0..C-1; chunks past C have none.
        source: retrieves a chunk's neighbours when the chunk is complete (batch of one only).
        record: sum the attention each neighbour receives (inference only).
    """

    def __init__(
        self,
        config: RetroConfig,
        encode: Encode,
        fixed: tuple[torch.Tensor, torch.Tensor] | None = None,
        source: NeighbourSource | None = None,
        record: bool = False,
    ) -> None:
        if (fixed is None) == (source is None):
            raise ConfigError("give a retro context either fixed neighbours or a neighbour source, not both")
        if fixed is not None:
            tokens, valid = fixed
            if tokens.dim() != 4 or tokens.shape != valid.shape:
                raise ConfigError(f"fixed neighbours must be (B, C, k, r) tokens and mask, got {tuple(tokens.shape)}")
            if tokens.shape[-1] > config.neighbour_len:
                raise ConfigError(
                    f"neighbours of {tokens.shape[-1]} tokens exceed neighbour_len {config.neighbour_len}"
                )
        self.config, self.encode, self.fixed, self.source, self.record = config, encode, fixed, source, record
        self.start = 0
        self.history: list[int] = []  # the tokens seen so far (source mode)
        self._encoded: tuple[torch.Tensor, torch.Tensor] | None = None  # fixed mode, all chunks
        self._chunks: dict[int, tuple[tuple[int, ...], tuple[torch.Tensor, torch.Tensor] | None]] = {}
        self.neighbours: dict[int, list[Neighbour]] = {}  # source mode: what each chunk retrieved
        self.attention: dict[int, torch.Tensor] = {}  # chunk -> (B, k): attention mass per neighbour
        self.seconds = 0.0  # spent finding and encoding neighbours (the fusion stage's own cost)

    def begin(self, tokens: torch.Tensor, start: int) -> None:
        """Called by the model before each pass: ``tokens`` (B, T) start at position ``start``."""
        if self.source is not None:
            if tokens.shape[0] != 1:
                raise ConfigError("a retro neighbour source serves one sequence; use fixed neighbours for batches")
            del self.history[start:]
            self.history.extend(tokens[0].tolist())
        self.start = start

    def memory(self, chunk: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Chunk ``chunk``'s encoded neighbours (B, k * r, encoder_dim) and their mask (B, k * r), or None."""
        if self.fixed is not None:
            return self._fixed_memory(chunk)
        m = self.config.chunk
        text = tuple(self.history[chunk * m : (chunk + 1) * m])
        if len(text) < m:
            return None  # not complete: no token may attend it yet
        cached = self._chunks.get(chunk)
        if cached is None or cached[0] != text:
            t0 = time.perf_counter()
            found = list(self.source(chunk, text))[: self.config.neighbours]
            self.neighbours[chunk] = found
            self.attention.pop(chunk, None)
            encoded = None
            if found:
                tokens, valid = pack([n.tokens for n in found], len(found), self.config.neighbour_len)
                with torch.no_grad():
                    states = self.encode(tokens, valid)  # (k, r, d)
                encoded = (states.reshape(1, -1, states.shape[-1]), valid.reshape(1, -1))
            cached = self._chunks[chunk] = (text, encoded)
            self.seconds += time.perf_counter() - t0
        return cached[1]

    def _fixed_memory(self, chunk: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        tokens, valid = self.fixed
        B, C, k, r = tokens.shape
        if chunk >= C:
            return None
        if self._encoded is None:
            states = self.encode(tokens.reshape(B * C * k, r), valid.reshape(B * C * k, r))
            self._encoded = (states.reshape(B, C, k * r, -1), valid.reshape(B, C, k * r))
        states, mask = self._encoded
        return states[:, chunk], mask[:, chunk]

    def note_attention(self, chunk: int, mass: torch.Tensor) -> None:
        """Add (B, k * r) attention mass (summed over the chunk's tokens, averaged over heads) per neighbour."""
        per_neighbour = mass.reshape(mass.shape[0], -1, self.config.neighbour_len).sum(-1)  # (B, k)
        before = self.attention.get(chunk)
        self.attention[chunk] = per_neighbour if before is None else before + per_neighbour

    def attended(self) -> list[tuple[Neighbour, float]]:
        """Source mode: every retrieved neighbour with the share of attention it received (of its chunk's total)."""
        out = []
        for chunk, found in sorted(self.neighbours.items()):
            mass = self.attention.get(chunk)
            total = float(mass[0].sum()) if mass is not None else 0.0
            for i, n in enumerate(found):
                out.append((n, float(mass[0, i]) / total if total > 0 else 0.0))
        return out
