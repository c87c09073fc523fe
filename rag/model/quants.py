"""ggml block formats -> float32, and float32 -> int8 rows (numpy, vectorised).

ggml stores a row of a quantized tensor as consecutive blocks of 32 values:

* ``Q8_0`` (34 bytes): fp16 scale ``d``, 32 int8 ``q``;            x = d * q
* ``Q4_0`` (18 bytes): fp16 scale ``d``, 16 bytes of nibbles;       x = d * (q - 8)
* ``Q4_1`` (20 bytes): fp16 scale ``d``, fp16 minimum ``m``, nibbles; x = d * q + m

In the 16 nibble bytes, byte ``j`` holds value ``j`` in its low nibble and value
``j + 16`` in its high nibble.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from gguf import GGMLQuantizationType

from core.errors import ConfigError

QK = 32  # values per ggml block for every format handled here


def _blocks(raw: np.ndarray, block_bytes: int) -> np.ndarray:
    """uint8 (rows, nbytes) -> uint8 (rows, n_blocks, block_bytes)."""
    return raw.reshape(raw.shape[0], -1, block_bytes)


def _f16(b: np.ndarray) -> np.ndarray:
    """Two bytes per entry (..., 2) -> float32 (..., 1)."""
    return np.ascontiguousarray(b).view(np.float16).astype(np.float32)


def _nibbles(qs: np.ndarray, out: np.ndarray) -> np.ndarray:
    """uint8 (rows, n_blocks, 16) -> values 0..15 written into float32 out (rows, n_blocks, 32)."""
    np.bitwise_and(qs, 0x0F, out=out[..., :16], casting="unsafe")
    np.right_shift(qs, 4, out=out[..., 16:], casting="unsafe")
    return out


def dequantize_q8_0(raw: np.ndarray) -> np.ndarray:
    b = _blocks(raw, 34)
    out = b[..., 2:].view(np.int8).astype(np.float32)
    out *= _f16(b[..., 0:2])
    return out.reshape(raw.shape[0], -1)


def dequantize_q4_0(raw: np.ndarray) -> np.ndarray:
    b = _blocks(raw, 18)
    out = _nibbles(b[..., 2:], np.empty(b.shape[:2] + (QK,), np.float32))
    out -= 8.0
    out *= _f16(b[..., 0:2])
    return out.reshape(raw.shape[0], -1)


def dequantize_q4_1(raw: np.ndarray) -> np.ndarray:
    b = _blocks(raw, 20)
    out = _nibbles(b[..., 4:], np.empty(b.shape[:2] + (QK,), np.float32))
    out *= _f16(b[..., 0:2])
    out += _f16(b[..., 2:4])
    return out.reshape(raw.shape[0], -1)


_DEQUANTIZERS: dict[GGMLQuantizationType, Callable[[np.ndarray], np.ndarray]] = {
    GGMLQuantizationType.F32: lambda raw: raw.view(np.float32).copy(),
    GGMLQuantizationType.F16: lambda raw: raw.view(np.float16).astype(np.float32),
    GGMLQuantizationType.Q8_0: dequantize_q8_0,
    GGMLQuantizationType.Q4_0: dequantize_q4_0,
    GGMLQuantizationType.Q4_1: dequantize_q4_1,
}
SUPPORTED_TYPES = tuple(t.name for t in _DEQUANTIZERS)


def dequantize(raw: np.ndarray, qtype: GGMLQuantizationType, row_length: int) -> np.ndarray:
    """Stored bytes uint8 (rows, row_bytes) -> float32 (rows, row_length)."""
    fn = _DEQUANTIZERS.get(qtype)
    if fn is None:
        raise ConfigError(
            f"tensor type {qtype.name} is not supported (supported: {', '.join(SUPPORTED_TYPES)}); "
            "re-quantize the model to Q4_1 or Q8_0"
        )
    out = fn(raw)
    return out.reshape(raw.shape[0], row_length)


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
