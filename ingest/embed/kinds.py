"""Embedder kinds (numeric recipes): which one ``auto`` picks on this CPU, and their names.

A kind is part of :attr:`Embedder.model_name` (``all-MiniLM-L6-v2`` for fp32,
``all-MiniLM-L6-v2@bf16``), stored with each collection, so vectors of two kinds
are never mixed in one index.
"""

from __future__ import annotations

import os

from core.errors import ConfigError

from .files import MODEL_NAME

KINDS = ("bf16", "fp32")  # what Embedder.kind can be
QUANT_ENV = "RAG_EMBED_QUANT"  # one of KINDS or "auto" (the default)
ISA_ENV = "ONEDNN_MAX_CPU_ISA"  # oneDNN's own cap on the instructions it uses (DNNL_MAX_CPU_ISA is its old name)
# What `auto` picks for each native bf16 feature (see native_bf16): measured in benchmarks/embed_speed.py.
AUTO_KIND = {"amx": "bf16", "avx512_bf16": "bf16", "none": "fp32"}


def resolve_kind(quant: str | None = None) -> str:
    """The embedder kind for ``quant`` (None: ``$RAG_EMBED_QUANT``, default ``auto``); unknown values raise."""
    value = (os.environ.get(QUANT_ENV) or "auto") if quant is None else quant
    kind = value.strip().lower()
    if kind == "auto":
        return AUTO_KIND[native_bf16()]
    if kind not in KINDS:
        source = f"{QUANT_ENV}={value!r}" if quant is None else f"quant={value!r}"
        raise ConfigError(f"unknown embedder kind {source}: use one of auto, {', '.join(KINDS)}")
    return kind


def native_bf16() -> str:
    """The bfloat16 matrix instructions oneDNN will use here: ``amx``, ``avx512_bf16`` or ``none``.

    AMX tiles (Xeon Sapphire Rapids and later) and AVX512_BF16 dot products (Cooper
    Lake, Zen 4 and later) both multiply bf16 natively; without them oneDNN emulates
    bf16 and it is several times slower than fp32. A cap set in ``$ONEDNN_MAX_CPU_ISA``
    is honoured, as oneDNN honours it.
    """
    import torch

    try:
        amx = bool(torch.cpu._is_amx_tile_supported())
        bf16 = bool(torch.cpu._is_avx512_bf16_supported()) and torch.backends.mkldnn.is_available()
    except (AttributeError, RuntimeError):  # an older or non-x86 torch build
        return "none"
    cap = (os.environ.get(ISA_ENV) or os.environ.get("DNNL_MAX_CPU_ISA") or "all").strip().lower()
    if cap not in ("all", "default"):
        amx = amx and "amx" in cap
        bf16 = bf16 and ("bf16" in cap or "amx" in cap or cap.startswith("avx10"))
    return "amx" if amx and bf16 else "avx512_bf16" if bf16 else "none"


def model_name_of(kind: str) -> str:
    """The name a collection records for vectors of ``kind`` (fp32 keeps the bare model name)."""
    return MODEL_NAME + ("" if kind == "fp32" else f"@{kind}")


def kind_of(model_name: str) -> str:
    """The kind of an :attr:`Embedder.model_name` (``all-MiniLM-L6-v2`` is fp32); another model raises."""
    base, _, kind = model_name.partition("@")
    kind = kind or "fp32"
    if base != MODEL_NAME or kind not in KINDS:
        names = ", ".join(model_name_of(k) for k in sorted(KINDS, key=lambda k: k != "fp32"))
        raise ConfigError(f"vectors of {model_name!r} cannot be made here: this embedder writes {names}")
    return kind
