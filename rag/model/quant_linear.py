"""Weight modes (``QUANT_MODES``) and the float32 reference layers.

* ``int4`` (default): the GGUF's own 4-bit groups of 32 (``Q4_1``: a scale and
  a minimum per group) for the transformer layers and its ``Q8_0`` vocabulary
  matrix, as they are in the file. Nothing is re-quantized and the fewest
  bytes are read per token; the fastest mode in benchmarks/generator.py.
* ``int8``: the weights dequantized and re-quantized to symmetric int8 with one
  scale per output channel (the vocabulary matrix too).
* ``fp32``: dequantized float32 weights and ``F.linear``: the reference path.

The quantized modes share the numba kernels of :mod:`rag.model.group_quant`,
which quantize activations per group of 32 on the fly and accumulate exactly
in int32. Every linear layer maps float32 (..., in_features) -> (..., out_features).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core.errors import ConfigError

QUANT_MODES = ("int4", "int8", "fp32")
DEFAULT_QUANT = "int4"


def check_mode(mode: str) -> str:
    if mode not in QUANT_MODES:
        raise ConfigError(f"unknown quantization mode {mode!r}; use one of {', '.join(QUANT_MODES)}")
    return mode


class Fp32Linear(nn.Module):
    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight, requires_grad=False)  # (out, in)
        self.out_features, self.in_features = weight.shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight)

    def nbytes(self) -> int:
        return self.weight.numel() * 4


class Fp32Embedding(nn.Module):
    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight, requires_grad=False)  # (vocab, dim), may be the output layer's

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return F.embedding(tokens, self.weight)

    def nbytes(self) -> int:
        return self.weight.numel() * 4
