"""The bf16 kind's encoder layers: MiniLM's linear layers on oneDNN with their epilogues fused.

``model.to(torch.bfloat16)`` alone leaves each ``nn.Linear`` to ATen's ``addmm``, which
copies the bias into the output before the matrix product, and runs GELU and the
residual add as separate passes over (B, T, 1536) and (B, T, 384) tensors: on 2 Zen 4
cores those passes were a fifth of the bf16 forward. Here every linear layer calls
``torch.ops.mkldnn._linear_pointwise`` (the kernel torch.compile emits on CPUs), so
oneDNN adds the bias, and the GELU (erf) or the residual, to the float32 accumulator
before rounding to bf16, in the same pass that writes the product. LayerNorm, softmax
and the pooling stay as they were (float32 arithmetic inside).

The modules keep the names and the parameter tensors of the layers they replace
(``...intermediate.dense.weight``), so a model shares its weights with its copies.
"""

from __future__ import annotations

import torch
from torch import nn

from .kinds import native_bf16


def fused_ops_available() -> bool:
    """Whether oneDNN can run the fused bf16 layers here: its fused linear kernel is in this torch build (x86
    builds) and the CPU multiplies bf16 natively (oneDNN has no bf16 kernel for AVX2 and refuses to make one)."""
    return hasattr(torch.ops.mkldnn, "_linear_pointwise") and native_bf16() != "none"


class FusedLinear(nn.Module):
    """``dense`` (an ``nn.Linear``) on oneDNN, with ``post`` ("none" or "gelu") applied to its output."""

    def __init__(self, dense: nn.Linear, post: str = "none") -> None:
        super().__init__()
        self.weight, self.bias, self.post = dense.weight, dense.bias, post

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (B, T, in) -> (B, T, out); "none" is erf GELU, as BERT's ACT2FN["gelu"]
        return torch.ops.mkldnn._linear_pointwise(x.contiguous(), self.weight, self.bias, self.post, [], "none")


class FusedIntermediate(nn.Module):
    """BERT's feed-forward expansion: GELU(x W^T + b), one oneDNN call."""

    def __init__(self, dense: nn.Linear) -> None:
        super().__init__()
        self.dense = FusedLinear(dense, "gelu")

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.dense(hidden_states)


class FusedOutput(nn.Module):
    """BERT's projection back to the residual stream: LayerNorm(x W^T + b + residual), the add fused."""

    def __init__(self, dense: nn.Linear, norm: nn.LayerNorm) -> None:
        super().__init__()
        self.dense, self.LayerNorm = FusedLinear(dense), norm

    def forward(self, hidden_states: torch.Tensor, input_tensor: torch.Tensor) -> torch.Tensor:
        summed = torch.ops.mkldnn._linear_pointwise.binary(
            hidden_states.contiguous(), input_tensor.contiguous(), self.dense.weight, self.dense.bias, "add"
        )
        return self.LayerNorm(summed)


def fuse_bert_layers(bert: nn.Module) -> nn.Module:
    """Swap the linear layers of a bfloat16 ``BertModel``'s encoder for the fused ones, in place.

    Args:
        bert: a Hugging Face ``BertModel`` already in bfloat16 with GELU (erf) activations.

    Returns:
        ``bert``, whose encoder layers now run on oneDNN's fused kernels.
    """
    assert bert.config.hidden_act == "gelu", bert.config.hidden_act  # the fused epilogue is erf GELU
    for layer in bert.encoder.layer:
        attention = layer.attention.self
        for name in ("query", "key", "value"):
            setattr(attention, name, FusedLinear(getattr(attention, name)))
        out = layer.attention.output
        layer.attention.output = FusedOutput(out.dense, out.LayerNorm)
        layer.intermediate = FusedIntermediate(layer.intermediate.dense)
        layer.output = FusedOutput(layer.output.dense, layer.output.LayerNorm)
    return bert
