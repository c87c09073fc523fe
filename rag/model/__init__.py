"""Our own Llama decoder: reads a GGUF file, keeps its weights quantized, generates on the CPU.

Read bottom-up: :mod:`config` (hyper-parameters), :mod:`gguf_file` and
:mod:`quants` (the file and its block formats), :mod:`rope`, :mod:`kv_cache`,
:mod:`half`, :mod:`quant_linear` and :mod:`group_quant` (quantized layers, half-precision
scales), :mod:`fused` (few-token kernels), :mod:`step` and :mod:`decode_step` (one compiled
call per decoding step, and whether it runs on one thread or the pool), :mod:`model` (the
network), :mod:`loader`,
:mod:`tokenizer`, :mod:`generation_config` (the settings), :mod:`sampling`,
:mod:`constraints` and :mod:`json_machine`, :mod:`speculative`, :mod:`repetition`,
:mod:`decode_loop` (prefill, decode_one, speculate, decode_many), :mod:`generation`,
:mod:`beam` and :mod:`perplexity`.

    model, tokenizer = load_gguf(quant="int4")
    decoder = Decoder(model, tokenizer)
    text = "".join(decoder.stream(tokenizer.encode(prompt), GenerationConfig(max_tokens=64)))

Names are imported on first use, so ``rag.model.gguf_file`` (numpy only) can be
used without loading torch and numba.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Hypothesis": "beam",
    "beam_search": "beam",
    "LlamaConfig": "config",
    "ByteMachine": "constraints",
    "ChoiceMachine": "constraints",
    "TokenConstraint": "constraints",
    "JsonMachine": "json_machine",
    "Decoder": "generation",
    "DecodeStats": "decode_loop",
    "GenerationConfig": "generation_config",
    "default_gguf_path": "gguf_file",
    "KVCache": "kv_cache",
    "load_gguf": "loader",
    "LlamaModel": "model",
    "perplexity": "perplexity",
    "DEFAULT_QUANT": "quant_linear",
    "QUANT_MODES": "quant_linear",
    "PromptLookup": "speculative",
    "GGUFTokenizer": "tokenizer",
    "IncrementalDecoder": "tokenizer",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rag.model' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"rag.model.{module}"), name)
    globals()[name] = value
    return value


def _fresh_kernels() -> None:
    # before any kernel loads from numba's cache: drop it if a kernel source changed (see kernel_cache)
    from pathlib import Path

    from rag.model.kernel_cache import drop_stale

    drop_stale(Path(__file__).parent)


_fresh_kernels()
