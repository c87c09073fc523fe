"""A random-weight model of Qwen2.5-0.5B's shape, Q4_K_M by llama.cpp: the generator benchmark's bigger model.

No weights are downloaded: the tensors are random (Gaussian, each matrix
scaled by 1/sqrt(its width)), written as an F16 GGUF one tensor at a time with
gguf's writer, then quantized by ``llama_cpp.llama_model_quantize``, the tool
users' files come from. The tokenizer is the shipped SmolLM2 one (byte-level
BPE with its chat template), padded with control tokens to Qwen's vocabulary
of 151936, so that both engines load it and tokenize prompts alike.

Qwen2.5-0.5B's width (896) is not a multiple of 256, so llama.cpp's Q4_K_M
falls back to Q5_0 for most matrices and Q8_0 for the tied embedding, and
keeps K-quants (Q4_K, Q6_K) for ``ffn_down`` (4864 wide): what the real
file holds.

The quantized file is cached (``--cache``, default benchmarks/results/cache);
the F16 one is deleted once quantized.
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CACHE = Path("benchmarks/results/cache")


@dataclass(frozen=True)
class Shape:
    """A Qwen 2 model's sizes (Qwen2.5-0.5B's by default)."""

    dim: int = 896
    layers: int = 24
    heads: int = 14
    kv_heads: int = 2
    ffn: int = 4864
    vocab: int = 151936
    context: int = 32768


def _tokenizer_fields(writer, vocab: int) -> None:  # noqa: ANN001
    """SmolLM2's tokenizer and chat template, padded with control tokens to ``vocab`` entries."""
    from gguf import GGUFReader, GGUFValueType

    from rag.model.gguf_file import default_gguf_path

    reader = GGUFReader(default_gguf_path())
    for field in reader.fields.values():
        if not field.name.startswith("tokenizer."):
            continue
        value = field.contents()
        if field.name == "tokenizer.ggml.tokens":
            value = value + [f"<|pad_{i}|>" for i in range(len(value), vocab)]
        elif field.name == "tokenizer.ggml.token_type":
            value = value + [3] * (vocab - len(value))  # CONTROL
        sub = field.types[-1] if field.types[0] == GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, value, field.types[0], sub_type=sub)


def _tensors(s: Shape) -> dict[str, tuple[int, ...]]:
    hd = s.dim // s.heads
    shapes: dict[str, tuple[int, ...]] = {"token_embd.weight": (s.vocab, s.dim), "output_norm.weight": (s.dim,)}
    for i in range(s.layers):
        p = f"blk.{i}."
        for name, rows in (("attn_q", s.heads * hd), ("attn_k", s.kv_heads * hd), ("attn_v", s.kv_heads * hd)):
            shapes[p + name + ".weight"] = (rows, s.dim)
            shapes[p + name + ".bias"] = (rows,)
        shapes |= {
            p + "attn_output.weight": (s.dim, s.heads * hd),
            p + "ffn_gate.weight": (s.ffn, s.dim),
            p + "ffn_up.weight": (s.ffn, s.dim),
            p + "ffn_down.weight": (s.dim, s.ffn),
            p + "attn_norm.weight": (s.dim,),
            p + "ffn_norm.weight": (s.dim,),
        }
    return shapes


def _value(rng: np.random.Generator, name: str, shape: tuple[int, ...]) -> np.ndarray:
    if "norm" in name:
        return np.ones(shape, np.float32)
    if len(shape) == 1:  # a bias
        return (rng.standard_normal(shape, np.float32) * 0.1).astype(np.float32)
    scale = 1.0 if name == "token_embd.weight" else shape[1] ** -0.5
    return (rng.standard_normal(shape, np.float32) * scale).astype(np.float16)


def write_f16(path: Path, shape: Shape, seed: int = 0) -> None:
    """The random model as an F16 GGUF (F32 norms and biases), one tensor in memory at a time."""
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), "qwen2")
    writer.add_context_length(shape.context)
    writer.add_embedding_length(shape.dim)
    writer.add_block_count(shape.layers)
    writer.add_feed_forward_length(shape.ffn)
    writer.add_head_count(shape.heads)
    writer.add_head_count_kv(shape.kv_heads)
    writer.add_rope_freq_base(1e6)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_file_type(1)  # MOSTLY_F16
    _tokenizer_fields(writer, shape.vocab)
    shapes = _tensors(shape)
    for name, dims in shapes.items():
        dtype = np.float16 if len(dims) == 2 else np.float32
        writer.add_tensor_info(name, dims, np.dtype(dtype), int(np.prod(dims)) * np.dtype(dtype).itemsize)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    rng = np.random.default_rng(seed)
    for name, dims in shapes.items():
        writer.write_tensor_data(_value(rng, name, dims))
    writer.close()


def q4_k_m_model(cache: Path = CACHE, shape: Shape = Shape()) -> Path:
    """The cached Q4_K_M file of the random model, built (about a minute) when missing."""
    import llama_cpp

    out = cache / f"random-qwen2-{shape.dim}x{shape.layers}-q4_k_m.gguf"
    if out.exists():
        return out
    cache.mkdir(parents=True, exist_ok=True)
    f16 = out.with_suffix(".f16.tmp")
    write_f16(f16, shape)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M
    params.nthread = len(os.sched_getaffinity(0))
    tmp = out.with_suffix(".tmp")
    try:
        if llama_cpp.llama_model_quantize(str(f16).encode(), str(tmp).encode(), ctypes.byref(params)) != 0:
            raise RuntimeError(f"llama.cpp could not quantize {f16}")
        tmp.replace(out)
    finally:
        f16.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    return out


if __name__ == "__main__":
    print(q4_k_m_model())
