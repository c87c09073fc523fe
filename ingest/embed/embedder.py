"""The embedder: batched MiniLM vectors of passages (ingest, at low priority) and queries (never behind an ingest)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numpy as np

from .bert import load_bert
from .bf16 import fuse_bert_layers, fused_ops_available
from .files import max_seq_length, model_dir, offline, truncating_tokenizer
from .kinds import kind_of, model_name_of, resolve_kind

SINGLE_THREAD_QUERIES = 8  # at most this many queries are embedded on one thread (see embed_queries)
BACKGROUND_NICE = 10  # passages (ingest) are embedded at this nice value: CFS weight 110 against 1024 at 0


class Embedder:
    """Batched, L2-normalised float32 sentence embeddings.

    Args:
        batch_size: texts per forward pass.
        device: torch device string ("cpu" by default).
        quant: the kind, ``bf16``, ``fp32`` or ``auto``; None reads ``$RAG_EMBED_QUANT`` (see ``ingest.embed``).
    """

    def __init__(self, batch_size: int = 32, device: str = "cpu", quant: str | None = None) -> None:
        self.kind = resolve_kind(quant)
        offline()
        import torch

        self.batch_size = batch_size
        self.model_name = model_name_of(self.kind)
        # plain torch (ingest.embed.bert), not sentence_transformers: transformers' modeling imports
        # torch._dynamo, sympy, pandas and scikit-learn (221 MB of a server's memory) for a 22M-parameter model
        dtype = torch.bfloat16 if self.kind == "bf16" else torch.float32
        self.model = load_bert(model_dir(), dtype).to(device)
        if self.kind == "bf16" and fused_ops_available() and self.model.device.type == "cpu":
            fuse_bert_layers(self.model)
        self.dim = self.model.config.hidden_size
        self.max_tokens = max_seq_length()
        # Passages and queries each have their own copy of the model's modules and a
        # lock, sharing the weights (read-only in inference) and the tokenizer (only
        # encoding, which threads may do at once): a query never waits for a block of
        # an ingest, only for other queries.
        self._lock = threading.Lock()
        self._tokenizer = truncating_tokenizer(self.max_tokens)
        self._query_model = _share_weights(self.model)
        self._query_lock = threading.Lock()
        self._query_tokenizer = self._tokenizer  # encoding from two threads at once is safe

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

        out = np.empty((len(encodings), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(encodings), self.batch_size):
                batch = encodings[start : start + self.batch_size]
                ids = torch.zeros((len(batch), max(len(i) for i in batch)), dtype=torch.long)
                for row, tokens in enumerate(batch):
                    ids[row, : len(tokens)] = torch.tensor(tokens)
                mask = (torch.arange(ids.shape[1]) < torch.tensor([len(i) for i in batch])[:, None]).long()
                ids, mask = ids.to(model.device), mask.to(model.device)
                hidden = model(ids, mask, torch.zeros_like(ids))[0]
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
    """A copy of ``model`` (its modules) that uses the same weight tensors."""
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


def embedder_for(model_name: str, batch_size: int = 32) -> Embedder:
    """The shared embedder whose vectors are named ``model_name`` (a collection's ``embed_model``)."""
    return shared_embedder(batch_size, quant=kind_of(model_name))


@lru_cache(maxsize=4)
def _shared_embedder(batch_size: int, kind: str) -> Embedder:
    return Embedder(batch_size=batch_size, quant=kind)
