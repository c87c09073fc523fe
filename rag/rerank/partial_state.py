"""Fine-tuned weights saved as the difference from a packaged base: every tensor but the frozen ones, fp16.

Shared by the cross-encoder (:mod:`rag.rerank.cross_encoder`) and the span reader
(:mod:`rag.reader.model`): both start from the packaged all-MiniLM-L6-v2 and freeze its
word embeddings, so the saved file leaves them out and loading puts the saved tensors over
the base model, checking that every key names a parameter of the right shape.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from torch import nn

from core.errors import MissingDependencyError
from rag.model.errors import ModelFileError


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
        ModelFileError: a key the module does not have, a missing key or a wrong shape; the message
            names ``what`` the weights are and how to ``retrain`` them.
    """
    own = module.state_dict()
    unknown = sorted(set(tensors) - set(own))
    if unknown:
        raise ModelFileError(f"{what} weights hold keys the model does not have: {unknown[:5]}")
    expected = {k for k in own if k not in frozen and not k.endswith("position_ids")}
    missing = sorted(expected - set(tensors))
    if missing:
        raise ModelFileError(f"{what} weights lack {missing[:5]}: retrain with `{retrain}`")
    for k, v in tensors.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise ModelFileError(f"{what} weight {k} has shape {tuple(v.shape)}, not {tuple(own[k].shape)}")
    # assigned, not copied in: a base weight may lie on a copy-on-write map of the packaged file
    # (ingest.embed.bert.map_safetensors), whose written pages would stay resident as long as the map lives
    module.load_state_dict({k: v.to(own[k].dtype) for k, v in tensors.items()}, strict=False, assign=True)


def save_partial(module: nn.Module, frozen: tuple[str, ...], stem: Path, metadata: dict, fmt: str) -> Path:
    """Write ``<stem>.safetensors`` (:func:`trainable_state`) and ``<stem>.json`` (``metadata``, the format and the
    tensor file's sha256); returns the tensor file."""
    from safetensors.torch import save_file

    stem.parent.mkdir(parents=True, exist_ok=True)
    weights = stem.with_suffix(".safetensors")
    save_file(trainable_state(module, frozen), str(weights), metadata={"format": fmt, "version": "1"})
    weights.chmod(0o644)  # safetensors writes 0600; the file ships with the package
    meta = dict(metadata, format=fmt, version=1, weights_sha256=file_sha256(weights))
    stem.with_suffix(".json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return weights


def read_partial(stem: Path, missing: str) -> dict[str, torch.Tensor]:
    """The tensors saved under ``stem``.

    Raises:
        MissingDependencyError: there is no ``<stem>.safetensors``; ``missing`` is the message (how to make it).
    """
    from safetensors.torch import load_file

    weights = stem.with_suffix(".safetensors")
    if not weights.is_file():
        raise MissingDependencyError(missing)
    return load_file(str(weights))


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
