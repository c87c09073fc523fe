"""Fine-tuned weights saved as the difference from a packaged base: every tensor but the frozen ones, fp16.

Shared by the cross-encoder (:mod:`rag.rerank.cross_encoder`) and the span reader
(:mod:`rag.reader.model`): both start from the packaged all-MiniLM-L6-v2 and freeze its
word embeddings, so the saved file leaves them out and loading puts the saved tensors over
the base model, checking that every key names a parameter of the right shape.
"""

from __future__ import annotations

import torch
from torch import nn

from indexes.errors import IndexFormatError


def trainable_state(module: nn.Module, frozen: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """Every tensor of ``module``'s state except ``frozen`` keys and position ids, as fp16 CPU tensors."""
    return {
        k: v.detach().to("cpu", torch.float16).contiguous()
        for k, v in module.state_dict().items()
        if k not in frozen and not k.endswith("position_ids")
    }


def load_trainable_state(
    module: nn.Module, tensors: dict[str, torch.Tensor], frozen: tuple[str, ...], what: str, retrain: str
) -> None:
    """Put ``tensors`` over ``module``'s weights.

    Raises:
        IndexFormatError: a key the module does not have, a missing key or a wrong shape; the message
            names ``what`` the weights are and how to ``retrain`` them.
    """
    own = module.state_dict()
    unknown = sorted(set(tensors) - set(own))
    if unknown:
        raise IndexFormatError(f"{what} weights hold keys the model does not have: {unknown[:5]}")
    expected = {k for k in own if k not in frozen and not k.endswith("position_ids")}
    missing = sorted(expected - set(tensors))
    if missing:
        raise IndexFormatError(f"{what} weights lack {missing[:5]}: retrain with `{retrain}`")
    for k, v in tensors.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise IndexFormatError(f"{what} weight {k} has shape {tuple(v.shape)}, not {tuple(own[k].shape)}")
    module.load_state_dict({k: v.to(own[k].dtype) for k, v in tensors.items()}, strict=False)
