"""Build a :class:`LlamaModel` and its tokenizer from a GGUF file (any architecture of :mod:`rag.model.config`).

Tensors are converted one at a time straight from the file mapping into the
chosen quantization mode, so the float32 copy of the whole model never exists
(only the embedding is converted in row chunks); the mapping is closed before
returning, so the file's pages leave resident memory. The weights cannot be
served from the mapping itself: the kernels read 64-row tiles stored
transposed, a layout unlike the file's row-major blocks, so each tensor is
repacked once (its integers unchanged) and the repacked copy is what stays resident.

Layouts differ by architecture only in ways fixed at load time: fused Q/K/V and
gate/up tensors (Phi-3) are split the way our fused projections take them, and
Q/K rows of NEOX-rope files (Qwen, Phi-3, Gemma) are permuted to adjacent pairs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass
from itertools import groupby

import numba
import numpy as np
import torch
from gguf import GGMLQuantizationType
from torch import nn

from core.errors import ConfigError
from rag.model.block_quant import Int8BlockLinear
from rag.model.config import LlamaConfig
from rag.model.gguf_file import GGUFFile, default_gguf_path
from rag.model.group_quant import GroupEmbedding, GroupQuantLinear, Int4Linear, Int8GroupLinear, RowConcat
from rag.model.layers import Attention, FeedForward, RMSNorm
from rag.model.model import Block, LlamaModel
from rag.model.q5_quant import Int5GroupLinear
from rag.model.quant_linear import DEFAULT_QUANT, Fp32Embedding, Fp32Linear, check_mode
from rag.model.quants import QuantGroups, check_type, quantize_int8_rows
from rag.model.quants.legacy import blocks, f16
from rag.model.rope import interleave_heads
from rag.model.tokenizer import GGUFTokenizer

_CHUNK_ROWS = 8192  # rows of a vocabulary matrix converted at once


# The layer that holds each block format's integers as they are (mode "int4"); float types are quantized to Int4Linear.
_KERNELS: dict[GGMLQuantizationType, type[GroupQuantLinear]] = {
    GGMLQuantizationType.Q4_0: Int4Linear,
    GGMLQuantizationType.Q4_1: Int4Linear,
    GGMLQuantizationType.Q4_K: Int4Linear,
    GGMLQuantizationType.Q8_0: Int8GroupLinear,
    GGMLQuantizationType.Q5_0: Int5GroupLinear,
    GGMLQuantizationType.Q5_1: Int5GroupLinear,
    GGMLQuantizationType.Q5_K: Int8BlockLinear,
    GGMLQuantizationType.Q6_K: Int8BlockLinear,
}
_Part = tuple[tuple, "QuantGroups | _Nibbles | np.ndarray"]  # (layout key, the part's rows: groups, nibbles, float32)


# 32-value 4-bit formats whose nibble bytes are Int4Linear's as they are: block bytes (the nibbles are the last 16).
_NIBBLE_BLOCKS = {GGMLQuantizationType.Q4_0: 18, GGMLQuantizationType.Q4_1: 20}


@dataclass(frozen=True)
class _Nibbles:
    """Rows of a Q4_0/Q4_1 tensor in :class:`Int4Linear`'s terms: nibbles uint8 (rows, G, 16), d and m (rows, G)."""

    q: np.ndarray
    d: np.ndarray
    m: np.ndarray


def _nibbles(f: GGUFFile, name: str, order: np.ndarray | None, scaled_rows: int, row_scale: float) -> _Nibbles:
    """Tensor ``name`` (Q4_0 or Q4_1) read straight into :class:`Int4Linear`'s terms, its bytes never unpacked.

    The scales are computed as ``QuantGroups.scale_rows`` and ``Int4Linear.from_groups`` do (in float32,
    in that order; Q4_0's minimum is ``-8 d``), so the layer is the one the int8 groups gave, bit for bit.
    """
    qtype = f.info(name).qtype
    size = _NIBBLE_BLOCKS[qtype]
    b = blocks(f.raw(name), size)
    b = b if order is None else b[order]
    d = f16(b[..., 0:2])
    d[:scaled_rows] *= np.float32(row_scale)
    if qtype == GGMLQuantizationType.Q4_0:
        return _Nibbles(b[..., size - 16 :], d, d * np.float32(-8.0))
    m = f16(b[..., 2:4])
    m[:scaled_rows] *= np.float32(row_scale)
    return _Nibbles(b[..., size - 16 :], d, m)


def _int4_part(f: GGUFFile, name: str, order: np.ndarray | None, scaled_rows: int, row_scale: float) -> _Part:
    """Tensor ``name`` with its rows in ``order`` and the first ``scaled_rows`` scaled, as groups or float32."""
    qtype = f.info(name).qtype
    if qtype in _NIBBLE_BLOCKS:
        return ("nibbles", qtype == GGMLQuantizationType.Q4_0), _nibbles(f, name, order, scaled_rows, row_scale)
    cls = _KERNELS.get(qtype)
    if cls is None:
        w = f.dequantize(name)
        w = w if order is None else w[order]
        w[:scaled_rows] *= row_scale
        return ("float",), w
    g = f.groups(name)
    g = (g if order is None else g.take(order)).scale_rows(scaled_rows, row_scale)
    return (cls, g.per, g.sc.shape[2], g.mn is None), g


def _int4_linear(key: tuple, parts: list) -> nn.Module:
    """One layer from parts of one layout, stacked along the rows (the concatenations copy out of the file)."""
    if key[0] == "nibbles":
        return Int4Linear(*(np.concatenate([getattr(p, a) for p in parts]) for a in ("q", "d", "m")))
    if key[0] == "float":
        return Int4Linear.from_float(np.concatenate(parts))
    return key[0].from_groups(QuantGroups.concat(parts))


def _linear(
    f: GGUFFile,
    names: list[str],
    mode: str,
    scaled_rows: int = 0,
    row_scale: float = 1.0,
    order: np.ndarray | None = None,
) -> nn.Module:
    """One linear layer whose weight is the row-wise concatenation of tensors ``names``.

    Rows are then taken in ``order`` (None: as they are; it must keep each tensor's rows
    among its own), and the first ``scaled_rows`` output rows multiplied by ``row_scale``
    (how the attention's 1/sqrt(head_dim) is folded into Q). In mode "int4" each block
    format keeps its integers (``_KERNELS``); tensors of different layouts become
    parts of a :class:`RowConcat`.
    """
    if mode != "int4":
        w = np.concatenate([f.dequantize(n) for n in names])  # float32 (out, in)
        w = w if order is None else w[order]
        w[:scaled_rows] *= row_scale
        if mode == "int8":
            return Int8GroupLinear.from_int8_rows(*quantize_int8_rows(w))
        return Fp32Linear(torch.from_numpy(w))
    parts, start = [], 0
    for name in names:
        rows = f.info(name).shape[0]
        local = None if order is None else order[start : start + rows] - start
        if local is not None and (local.min() < 0 or local.max() >= rows):
            raise AssertionError(f"row order mixes {name}'s rows with another tensor's")
        parts.append(_int4_part(f, name, local, min(max(scaled_rows - start, 0), rows), row_scale))
        start += rows
    layers = [_int4_linear(key, [p for _, p in run]) for key, run in groupby(parts, key=lambda p: p[0])]
    return layers[0] if len(layers) == 1 else RowConcat(layers)


def _vocab_matrix(f: GGUFFile, name: str, mode: str) -> nn.Module:
    """A vocabulary-sized matrix (embedding or output layer) as a linear layer of ``mode``.

    Block formats keep their integers in mode "int4"; float ones are converted in row
    chunks, which bounds the float32 transient to ~19 MB.
    """
    info = f.info(name)
    if mode == "fp32":
        return Fp32Linear(torch.from_numpy(f.dequantize(name)))
    if mode == "int4" and info.qtype in _KERNELS:
        return _KERNELS[info.qtype].from_groups(f.groups(name))
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
    path: str | None = None,
    quant: str = DEFAULT_QUANT,
    device: torch.device | str = "cpu",
    threads: int | None = None,
    warm_up: bool = True,
) -> tuple[LlamaModel, GGUFTokenizer]:
    """Read a Llama-architecture GGUF into a model and a tokenizer.

    Args:
        path: the .gguf file; None means the bundled SmolLM2-135M-Instruct.
        quant: "int4", "int8" or "fp32"; see :mod:`rag.model.quant_linear`.
        device: where the model's tensors live. The quantized kernels are CPU-only.
        threads: the most threads a decoding step may use (None: numba's current setting).
        warm_up: load the compiled kernels now (:meth:`LlamaModel.warm_up`); False: on their first use.
    Returns:
        (model in eval mode, tokenizer).
    """
    check_mode(quant)
    if quant != "fp32" and torch.device(device).type != "cpu":
        raise ConfigError(f"quant={quant!r} runs CPU kernels; use device='cpu' or quant='fp32' on {device}")
    path = path or default_gguf_path()
    with GGUFFile(path) as f:
        config = LlamaConfig.from_gguf(f.metadata, set(f.tensors))
        for t in f.tensors.values():  # refuse an unsupported type before converting anything
            check_type(t.qtype, t.name)
        tokenizer = GGUFTokenizer(f.metadata)
        layers = []
        for i in range(config.n_layers):
            layers.append(_block(f, config, i, quant))
            f.drop_pages()
        embed, output = _embedding_and_output(f, config, quant)
        final_norm = _norm(f, config, "output_norm.weight")
        factors = f.dequantize("rope_freqs.weight") if "rope_freqs.weight" in f.tensors else None
    model = LlamaModel(config, embed, layers, final_norm, output, quant, factors).to(device).eval()
    if model.device.type == "cpu":
        model.attach_decode_step(threads if threads is not None else numba.get_num_threads())
        if warm_up:
            model.warm_up()
    _release_free_heap()
    return model, tokenizer


def _norm(f: GGUFFile, config: LlamaConfig, name: str, scale: float = 1.0, heads: bool = False) -> RMSNorm:
    """The RMSNorm of tensor ``name``; ``heads``: a per-head Q/K norm, permuted like its rows."""
    w = f.dequantize(name) * np.float32(scale)
    if heads and config.rope_neox:
        w = interleave_heads(w, 1)
    return RMSNorm(torch.from_numpy(np.ascontiguousarray(w)), config.norm_eps)


def _qkv_order(config: LlamaConfig) -> np.ndarray | None:
    """The row order that turns a NEOX file's Q, K, V rows into adjacent rotary pairs; None where they are."""
    if not config.rope_neox:
        return None
    q, k = config.n_heads * config.head_dim, config.kv_dim
    return np.concatenate(
        [interleave_heads(np.arange(q), config.n_heads), q + interleave_heads(np.arange(k), config.n_kv_heads)]
        + [np.arange(q + k, q + 2 * k)]
    )


def _attention(f: GGUFFile, config: LlamaConfig, layer: int, mode: str) -> Attention:
    """Layer ``layer``'s attention: Q, K, V fused into one projection (from three tensors or Phi-3's one)."""
    p = f"blk.{layer}."
    fused = p + "attn_qkv.weight" in f.tensors
    names = [p + "attn_qkv.weight"] if fused else [p + "attn_q.weight", p + "attn_k.weight", p + "attn_v.weight"]
    q_rows, scale, order = config.n_heads * config.head_dim, config.attn_scale, _qkv_order(config)
    # with Q/K norms the softmax scale goes into the Q norm (the norm would undo it in the rows)
    row_scale = 1.0 if config.qk_norm else scale
    bias = None
    if config.qkv_bias:
        bias = np.concatenate([f.dequantize(n.replace(".weight", ".bias")) for n in names])
        bias = bias if order is None else bias[order]
        bias[:q_rows] *= row_scale
        bias = torch.from_numpy(np.ascontiguousarray(bias))
    norms = None
    if config.qk_norm:
        norms = (
            _norm(f, config, p + "attn_q_norm.weight", scale, True),
            _norm(f, config, p + "attn_k_norm.weight", 1.0, True),
        )
    return Attention(
        config,
        _linear(f, names, mode, q_rows, row_scale, order),
        _linear(f, [p + "attn_output.weight"], mode),
        bias,
        norms,
        config.sliding_window if config.sliding(layer) else 0,
    )


def _block(f: GGUFFile, config: LlamaConfig, layer: int, mode: str) -> Block:
    p = f"blk.{layer}."
    gate_up = (
        [p + "ffn_gate.weight", p + "ffn_up.weight"] if p + "ffn_gate.weight" in f.tensors else [p + "ffn_up.weight"]
    )
    ffn = FeedForward(_linear(f, gate_up, mode), _linear(f, [p + "ffn_down.weight"], mode), config.gelu)
    post = None
    if config.post_norms:
        post = (_norm(f, config, p + "post_attention_norm.weight"), _norm(f, config, p + "post_ffw_norm.weight"))
    return Block(
        _norm(f, config, p + "attn_norm.weight"),
        _attention(f, config, layer, mode),
        _norm(f, config, p + "ffn_norm.weight"),
        ffn,
        post,
    )


def _release_free_heap() -> None:
    """Hand the conversion's freed temporaries back to the OS (glibc keeps them otherwise; ~50 MB here)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        ctypes.CDLL(name).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass
