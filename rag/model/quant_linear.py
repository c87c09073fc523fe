"""Weight modes (``QUANT_MODES``) and the float32 reference layers.

* ``int4`` (default): each block format's integers as the file stores them
  (``loader._KERNELS``): 4-bit Q4_0/Q4_1/Q4_K groups, 5-bit Q5_0/Q5_1 groups
  (:mod:`rag.model.q5_quant`), 8-bit Q8_0 groups, and Q5_K/Q6_K in the 8-bit
  block layer (:mod:`rag.model.block_quant`);
  nothing is re-quantized except float tensors (F32/F16/BF16): layers become
  4-bit groups, a vocabulary matrix 8-bit groups. The fewest bytes are read per token; the fastest mode in
  benchmarks/generator.py for the shipped Q4_1 model.
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
