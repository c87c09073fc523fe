"""Build a :class:`LlamaModel` and its tokenizer from a GGUF file.

Tensors are converted one at a time straight from the file mapping into the
chosen quantization mode, so the float32 copy of the whole model never exists
(only the embedding is converted in row chunks); the mapping is closed before
returning, so the file's pages leave resident memory.
"""

from __future__ import annotations

import ctypes
import ctypes.util

import numba
import numpy as np
import torch
from gguf import GGMLQuantizationType
from torch import nn

from core.errors import ConfigError
from rag.model.config import LlamaConfig
from rag.model.gguf_file import GGUFFile, default_gguf_path
from rag.model.group_quant import GroupEmbedding, Int4Linear, Int8GroupLinear
from rag.model.model import Attention, Block, FeedForward, LlamaModel, RMSNorm
from rag.model.quant_linear import DEFAULT_QUANT, Fp32Embedding, Fp32Linear, check_mode
from rag.model.quants import quantize_int8_rows
from rag.model.tokenizer import GGUFTokenizer

_CHUNK_ROWS = 8192  # rows of a vocabulary matrix converted at once


def _linear(f: GGUFFile, names: list[str], mode: str, scaled_rows: int = 0, row_scale: float = 1.0) -> nn.Module:
    """One linear layer whose weight is the row-wise concatenation of tensors ``names``.

    The first ``scaled_rows`` output rows are multiplied by ``row_scale``
    (how the attention's 1/sqrt(head_dim) is folded into Q).
    """
    infos = [f.info(n) for n in names]
    if mode == "int4" and all(i.qtype == GGMLQuantizationType.Q4_1 for i in infos):  # the file's groups as they are
        raw = np.concatenate([f.raw(n) for n in names])
        return Int4Linear.from_q4_1(raw, infos[0].shape[-1], scaled_rows, row_scale)
    w = np.concatenate([f.dequantize(n) for n in names])  # float32 (out, in)
    w[:scaled_rows] *= row_scale
    if mode == "int4":
        return Int4Linear.from_float(w)
    if mode == "int8":
        return Int8GroupLinear.from_int8_rows(*quantize_int8_rows(w))
    return Fp32Linear(torch.from_numpy(w))


def _vocab_matrix(f: GGUFFile, name: str, mode: str) -> nn.Module:
    """A vocabulary-sized matrix (embedding or output layer) as a linear layer of ``mode``.

    It is converted in row chunks, which bounds the float32 transient to ~19 MB.
    """
    info = f.info(name)
    if mode == "fp32":
        return Fp32Linear(torch.from_numpy(f.dequantize(name)))
    if mode == "int4" and info.qtype == GGMLQuantizationType.Q8_0:  # int8 groups: the file's Q8_0 as it is
        return Int8GroupLinear.from_q8_0(f.raw(name), info.shape[-1])
    chunks = [f.dequantize(name, slice(r, r + _CHUNK_ROWS)) for r in range(0, info.shape[0], _CHUNK_ROWS)]
    if mode == "int4":
        return Int8GroupLinear.from_float(chunks)
    q, scale = zip(*(quantize_int8_rows(c) for c in chunks))
    return Int8GroupLinear.from_int8_rows(np.concatenate(q), np.concatenate(scale))


def _embedding_and_output(f: GGUFFile, config: LlamaConfig, mode: str) -> tuple[nn.Module, nn.Module]:
    """The token embedding and the output layer; when tied they share one weight tensor."""
    table = _vocab_matrix(f, "token_embd.weight", mode)
    output = table if config.tied_output else _vocab_matrix(f, "output.weight", mode)
    embed = Fp32Embedding(table.weight) if mode == "fp32" else GroupEmbedding(table)
    return embed, output


def load_gguf(
    path: str | None = None, quant: str = DEFAULT_QUANT, device: torch.device | str = "cpu", threads: int | None = None
) -> tuple[LlamaModel, GGUFTokenizer]:
    """Read a Llama-architecture GGUF into a model and a tokenizer.

    Args:
        path: the .gguf file; None means the bundled SmolLM2-135M-Instruct.
        quant: "int4", "int8" or "fp32"; see :mod:`rag.model.quant_linear`.
        device: where the model's tensors live. The quantized kernels are CPU-only.
        threads: the most threads a decoding step may use (None: numba's current setting).
    Returns:
        (model in eval mode, tokenizer).
    """
    check_mode(quant)
    if quant != "fp32" and torch.device(device).type != "cpu":
        raise ConfigError(f"quant={quant!r} runs CPU kernels; use device='cpu' or quant='fp32' on {device}")
    path = path or default_gguf_path()
    with GGUFFile(path) as f:
        config = LlamaConfig.from_gguf(f.metadata, set(f.tensors))
        tokenizer = GGUFTokenizer(f.metadata)
        layers = []

        def norm(name: str) -> RMSNorm:
            return RMSNorm(torch.from_numpy(f.dequantize(name)), config.norm_eps)

        for i in range(config.n_layers):
            p = f"blk.{i}."
            qkv = [p + "attn_q.weight", p + "attn_k.weight", p + "attn_v.weight"]
            attn = Attention(
                config,
                _linear(f, qkv, quant, config.dim, config.head_dim**-0.5),
                _linear(f, [p + "attn_output.weight"], quant),
            )
            ffn = FeedForward(
                _linear(f, [p + "ffn_gate.weight", p + "ffn_up.weight"], quant),
                _linear(f, [p + "ffn_down.weight"], quant),
            )
            layers.append(Block(norm(p + "attn_norm.weight"), attn, norm(p + "ffn_norm.weight"), ffn))
            f.drop_pages()
        embed, output = _embedding_and_output(f, config, quant)
        final_norm = norm("output_norm.weight")
    model = LlamaModel(config, embed, layers, final_norm, output, quant).to(device).eval()
    if model.device.type == "cpu":
        model.attach_decode_step(threads if threads is not None else numba.get_num_threads())
        model.warm_up()
    _release_free_heap()
    return model, tokenizer


def _release_free_heap() -> None:
    """Hand the conversion's freed temporaries back to the OS (glibc keeps them otherwise; ~50 MB here)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        ctypes.CDLL(name).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass
