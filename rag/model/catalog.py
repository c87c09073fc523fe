"""The GGUF models a user has: the shipped one and the files in a models folder, described from their headers.

``list_models`` reads each file's metadata and tensor table (no weights), so listing
a folder of multi-gigabyte models takes milliseconds per file. ``resolve_model``
turns what a user types (``RAG_MODEL``, ``--model``) into a path: a file name
in the folder with or without ``.gguf``, the shipped model's name, or a path.

Example:
    >>> [m.name for m in list_models("data/models")][:1]
    ['SmolLM2-135M-Instruct.Q4_1']
"""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigError
from rag.model.config import SUPPORTED_ARCHS
from rag.model.gguf_file import GGUFFile, default_gguf_path

__all__ = ["ModelInfo", "describe", "list_models", "resolve_model"]


@dataclass(frozen=True)
class ModelInfo:
    """What a GGUF file holds, read from its header.

    Attributes:
        name: the file name without ``.gguf`` (what ``RAG_MODEL`` takes).
        path: the file.
        architecture: ``general.architecture`` (``llama``, ``qwen2``...); None when unreadable.
        parameters: the number of weights, summed over the tensor table.
        tensor_types: tensor type name -> how many tensors have it, most common first.
        context_length: the context the model was trained for (``<arch>.context_length``).
        file_bytes: the file's size.
        shipped: whether it is the model this package ships.
        problem: why our decoder cannot run it (an architecture or tensor type it does not
            support, an unreadable file); None when it can.
    """

    name: str
    path: str
    architecture: str | None
    parameters: int
    tensor_types: dict[str, int]
    context_length: int | None
    file_bytes: int
    shipped: bool = False
    problem: str | None = None

    @property
    def supported(self) -> bool:
        return self.problem is None


def _supported_types() -> set[str]:
    from rag.model.quants import SUPPORTED_TYPES

    return set(SUPPORTED_TYPES)


def describe(path: str | os.PathLike[str], shipped: bool = False) -> ModelInfo:
    """Read one GGUF file's header into a ``ModelInfo``; an unreadable file gets ``problem`` set, never raises."""
    path = os.fspath(path)
    name = Path(path).name.removesuffix(".gguf")
    size = os.path.getsize(path)
    try:
        with GGUFFile(path) as f:
            meta, tensors = f.metadata, f.tensors
    except Exception as exc:  # a bad file is listed with its problem, not a crash of the listing
        return ModelInfo(name, path, None, 0, {}, None, size, shipped, f"unreadable: {exc}")
    arch = meta.get("general.architecture")
    counts = Counter(t.qtype.name for t in tensors.values())
    params = sum(math.prod(t.shape) for t in tensors.values())
    context = meta.get(f"{arch}.context_length")
    return ModelInfo(
        name, path, arch, params, dict(counts.most_common()), int(context) if context else None, size, shipped,
        _problem(arch, set(counts)),
    )  # fmt: skip


def _problem(arch: str | None, types: set[str]) -> str | None:
    if arch not in SUPPORTED_ARCHS:
        return f"architecture {arch!r} is not supported (supported: {', '.join(SUPPORTED_ARCHS)})"
    unsupported = sorted(types - _supported_types())
    if unsupported:
        supported = ", ".join(sorted(_supported_types()))
        return f"tensor type {', '.join(unsupported)} is not supported (supported: {supported})"
    return None


def list_models(models_dir: str | os.PathLike[str] | None) -> list[ModelInfo]:
    """The shipped model (when installed) and every ``*.gguf`` directly in ``models_dir``, by name."""
    found: list[ModelInfo] = []
    try:
        found.append(describe(default_gguf_path(), shipped=True))
    except Exception:  # not installed: the folder's models may still be listed
        pass
    if models_dir is not None and Path(models_dir).is_dir():
        files = sorted(p for p in Path(models_dir).iterdir() if p.suffix.lower() == ".gguf" and p.is_file())
        found.extend(describe(p) for p in files)
    return found


def resolve_model(
    spec: str, models_dir: str | os.PathLike[str] | None, models: list[ModelInfo] | None = None
) -> str | None:
    """The GGUF path that ``spec`` names; None for an empty spec (the shipped model).

    Args:
        spec: a path to a ``.gguf`` file, or a name: a file in ``models_dir`` with or
            without ``.gguf``, or the shipped model's name.
        models_dir: the folder of the user's models.
        models: ``list_models(models_dir)`` where the caller has it already (headers are read once).

    Raises:
        ConfigError: no such file; the message lists the names there are.
    """
    if not spec:
        return None
    if os.sep in spec or "/" in spec or Path(spec).is_file():
        if not Path(spec).is_file():
            raise ConfigError(f"model file {spec} does not exist; give the path of a .gguf file")
        return str(Path(spec))
    models = list_models(models_dir) if models is None else models
    for info in models:
        if spec in (info.name, info.name + ".gguf", Path(info.path).name):
            return None if info.shipped else info.path
    names = ", ".join(info.name for info in models) or "none"
    raise ConfigError(
        f"no model named {spec!r} in {models_dir} (set RAG_MODELS_DIR, or give a path); the models there are: {names}"
    )
