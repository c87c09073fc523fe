"""The reader as the query path uses it: loaded on first use, one intra-op thread per read, bf16 where it is fast.

:meth:`Reader.read` returns each passage's best span; :meth:`Reader.best` the
best across passages, by margin (span score minus the passage's null score).
The margin is what abstention compares with a threshold fitted on the SQuAD
2.0 calibration half (``rag eval qa --part calibrate --configs reader``), and
:func:`confidence` turns it into a probability with the logistic fitted there.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from rag.reader.model import DEFAULT_NAME, WEIGHTS_DIR, SpanReader, load_model
from rag.reader.read import BATCH_SIZE, passage_spans, window_spans
from rag.reader.spans import WindowSpan


def bf16_supported() -> bool:
    """Whether this CPU multiplies bfloat16 matrices natively (AVX-512 BF16 or AMX); elsewhere bf16 is slower."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


class Reader:
    """The span reader behind a lock, loaded on first use.

    Args:
        stem: weights path stem (default: the shipped ``weights/minilm-squad``).
        threads: intra-op threads per read (default 1, as for the query embedder). Two are faster on an idle
            machine but not beside other work: five 172-token chunks took 130 ms on two threads and 165 ms on
            one, idle, and 347 ms against 159 ms with one core kept busy (2-core AMD EPYC, bf16).
        bf16: run the encoder under bfloat16 autocast (default: where the CPU supports it).
    """

    def __init__(self, stem: Path | None = None, threads: int | None = None, bf16: bool | None = None) -> None:
        self.stem = stem or WEIGHTS_DIR / DEFAULT_NAME
        self.threads = threads or 1
        self.bf16 = bf16_supported() if bf16 is None else bf16
        self._model: SpanReader | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """Whether the weights are in memory (reading this loads nothing)."""
        return self._model is not None

    @property
    def model(self) -> SpanReader:
        with self._lock:
            if self._model is None:
                model = load_model(self.stem)
                self._model = linears_in_bf16(model) if self.bf16 else model
            return self._model

    def read(self, question: str, passages: Sequence[str]) -> list[WindowSpan | None]:
        """Per passage, its best span for ``question`` (None for a passage with no text to read)."""
        if not passages:
            return []
        model = self.model
        before = torch.get_num_threads()
        with self._lock:
            torch.set_num_threads(self.threads)
            try:
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
                    spans = window_spans(model, [question] * len(passages), list(passages), BATCH_SIZE)
            finally:
                torch.set_num_threads(before)
        return passage_spans(spans, len(passages))

    def best(self, question: str, passages: Sequence[str]) -> WindowSpan | None:
        """The span with the highest margin over all passages (None when no passage has text)."""
        spans = [s for s in self.read(question, passages) if s is not None]
        return max(spans, key=lambda s: s.margin, default=None)


def linears_in_bf16(model: SpanReader) -> SpanReader:
    """``model`` with its linear layers' weights and biases stored in bfloat16, in place, for reading under bf16
    autocast: autocast rounds fp32 weights to bf16 at every read, so the products are the same, and the 21 MB of
    fp32 copies are not kept. Embeddings and LayerNorms stay float32 (autocast runs LayerNorm in fp32)."""
    for module in model.modules():
        if isinstance(module, nn.Linear):
            module.to(torch.bfloat16)
    return model


def confidence(margin: float, center: float, scale: float) -> float:
    """The calibrated probability that a span with this margin is right: ``sigmoid(scale * (margin - center))``."""
    z = scale * (margin - center)
    return 1.0 / (1.0 + math.exp(-z)) if z > -60 else 0.0
