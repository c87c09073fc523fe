"""ggml tensor types -> float32 or integer groups (numpy, vectorised), and float32 -> int8 rows.

Every block format we read decodes to :class:`QuantGroups`: integers per group
of 32 values with the integer scales and minimums of the format and the
half-precision scales of its blocks (:mod:`rag.model.quants.legacy` for the
32-value formats, :mod:`rag.model.quants.kquants` for the 256-value K-quants).
The float formats (F32, F16, BF16) decode straight to float32. The loader
repacks groups into the tiled kernels without re-quantizing
(:mod:`rag.model.group_quant`, :mod:`rag.model.block_quant`); :func:`dequantize`
gives the float32 values bit for bit as ``gguf.quants`` computes them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

from rag.model.errors import ModelFileError
from rag.model.quants.groups import QK, QuantGroups
from rag.model.quants.kquants import QK_K, decode_q4_k, decode_q5_k, decode_q6_k
from rag.model.quants.legacy import decode_q4_0, decode_q4_1, decode_q5_0, decode_q5_1, decode_q8_0

__all__ = [
    "QK",
    "QK_K",
    "SUPPORTED_TYPES",
    "QuantGroups",
    "check_type",
    "decode_groups",
    "dequantize",
    "quantize_int8_rows",
]

_DECODERS: dict[GGMLQuantizationType, Callable[[np.ndarray], QuantGroups]] = {
    GGMLQuantizationType.Q4_0: decode_q4_0,
    GGMLQuantizationType.Q4_1: decode_q4_1,
    GGMLQuantizationType.Q5_0: decode_q5_0,
    GGMLQuantizationType.Q5_1: decode_q5_1,
    GGMLQuantizationType.Q8_0: decode_q8_0,
    GGMLQuantizationType.Q4_K: decode_q4_k,
    GGMLQuantizationType.Q5_K: decode_q5_k,
    GGMLQuantizationType.Q6_K: decode_q6_k,
}


def _bf16(raw: np.ndarray) -> np.ndarray:
    """bfloat16 is the high half of a float32: widen by a 16-bit shift."""
    return (np.ascontiguousarray(raw).view(np.uint16).astype(np.uint32) << 16).view(np.float32)


_FLOATS: dict[GGMLQuantizationType, Callable[[np.ndarray], np.ndarray]] = {
    GGMLQuantizationType.F32: lambda raw: np.ascontiguousarray(raw).view(np.float32).copy(),
    GGMLQuantizationType.F16: lambda raw: np.ascontiguousarray(raw).view(np.float16).astype(np.float32),
    GGMLQuantizationType.BF16: _bf16,
}
SUPPORTED_TYPES = tuple(t.name for t in (*_FLOATS, *_DECODERS))


def check_type(qtype: GGMLQuantizationType, name: str = "") -> None:
    """Raise :class:`ModelFileError` naming ``qtype`` and the supported types unless we read it."""
    if qtype in _FLOATS or qtype in _DECODERS:
        return
    where = f" of tensor {name!r}" if name else ""
    raise ModelFileError(
        f"tensor type {qtype.name}{where} is not supported (supported: {', '.join(SUPPORTED_TYPES)}); "
        "use a file quantized to one of these, e.g. Q4_K_M, Q5_K_M, Q6_K or Q8_0"
    )


def _blocks_per_row(raw: np.ndarray, qtype: GGMLQuantizationType, row_length: int) -> None:
    block, size = GGML_QUANT_SIZES[qtype]
    if row_length % block or raw.shape[1] != row_length // block * size:
        raise ModelFileError(
            f"a {qtype.name} row of {row_length} values needs {row_length // block * size} bytes "
            f"in blocks of {block}, not {raw.shape[1]}; the file is corrupt"
        )


def decode_groups(raw: np.ndarray, qtype: GGMLQuantizationType, row_length: int) -> QuantGroups:
    """Stored bytes uint8 (rows, row_bytes) of a block format -> its integer groups (rows, row_length // 32)."""
    check_type(qtype)
    if qtype in _FLOATS:
        raise ModelFileError(f"{qtype.name} is a float type, not a block format; dequantize it instead")
    _blocks_per_row(raw, qtype, row_length)
    return _DECODERS[qtype](raw)


def dequantize(raw: np.ndarray, qtype: GGMLQuantizationType, row_length: int) -> np.ndarray:
    """Stored bytes uint8 (rows, row_bytes) -> float32 (rows, row_length), as ``gguf.quants`` computes it."""
    check_type(qtype)
    _blocks_per_row(raw, qtype, row_length)
    if qtype in _FLOATS:
        return _FLOATS[qtype](raw).reshape(raw.shape[0], row_length)
    return _DECODERS[qtype](raw).dequantize()


def quantize_int8_rows(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 with one scale per row (output channel).

    Args:
        w: float32 (rows, cols).
    Returns:
        q int8 (rows, cols) and scale float32 (rows,), with w ~= q * scale[:, None].
    """
    amax = np.abs(w).max(axis=1)
    scale = np.maximum(amax, 1e-12, dtype=np.float32) / np.float32(127.0)
    q = np.rint(w / scale[:, None])
    return q.astype(np.int8), scale.astype(np.float32)
