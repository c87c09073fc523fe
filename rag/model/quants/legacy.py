"""The 32-value ggml block formats -> :class:`QuantGroups` (numpy, vectorised).

* ``Q8_0`` (34 bytes): fp16 ``d``, 32 int8 ``q``;                          w = d * q
* ``Q4_0`` (18 bytes): fp16 ``d``, 16 bytes of nibbles;                    w = d * (q - 8)
* ``Q4_1`` (20 bytes): fp16 ``d``, fp16 ``m``, nibbles;                    w = d * q + m
* ``Q5_0`` (22 bytes): fp16 ``d``, 32 high bits, nibbles;                  w = d * (q - 16)
* ``Q5_1`` (24 bytes): fp16 ``d``, fp16 ``m``, 32 high bits, nibbles;      w = d * q + m

In the 16 nibble bytes, byte ``j`` holds value ``j`` in its low nibble and value
``j + 16`` in its high nibble; bit ``j`` of the little-endian 32-bit ``qh``
is the fifth bit of value ``j``.
"""

from __future__ import annotations

import numpy as np

from rag.model.quants.groups import QK, QuantGroups


def blocks(raw: np.ndarray, block_bytes: int) -> np.ndarray:
    """uint8 (rows, nbytes) -> uint8 (rows, n_blocks, block_bytes)."""
    return raw.reshape(raw.shape[0], -1, block_bytes)


def f16(b: np.ndarray) -> np.ndarray:
    """Two bytes per entry (..., 2) -> float32 (...)."""
    return np.ascontiguousarray(b).view(np.float16)[..., 0].astype(np.float32)


def nibbles(qs: np.ndarray) -> np.ndarray:
    """uint8 (rows, n, 16) -> values 0..15, int8 (rows, n, 32)."""
    out = np.empty((*qs.shape[:-1], QK), np.int8)
    np.bitwise_and(qs, 0x0F, out=out[..., :16], casting="unsafe")
    np.right_shift(qs, 4, out=out[..., 16:], casting="unsafe")
    return out


def _fifth_bits(qh: np.ndarray) -> np.ndarray:
    """uint8 (rows, n, 4), a little-endian 32-bit mask -> 16 * bit j, int8 (rows, n, 32)."""
    bits = np.unpackbits(np.ascontiguousarray(qh), axis=-1, bitorder="little")  # (rows, n, 32)
    return (bits << 4).astype(np.int8)


def _ones(q: np.ndarray) -> np.ndarray:
    return np.ones((*q.shape[:2], 1), np.int8)


def _asymmetric(q: np.ndarray, d: np.ndarray, m: np.ndarray) -> QuantGroups:
    """w = d * q + m as groups: ``dmin = -m``, ``mn = 1``."""
    return QuantGroups(q, _ones(q), d, np.ones(q.shape[:2], np.int8), -m)


def decode_q8_0(raw: np.ndarray) -> QuantGroups:
    b = blocks(raw, 34)
    q = np.ascontiguousarray(b[..., 2:]).view(np.int8)
    return QuantGroups(q, _ones(q), f16(b[..., 0:2]))


def decode_q4_0(raw: np.ndarray) -> QuantGroups:
    b = blocks(raw, 18)
    q = nibbles(b[..., 2:])
    q -= 8
    return QuantGroups(q, _ones(q), f16(b[..., 0:2]))


def decode_q4_1(raw: np.ndarray) -> QuantGroups:
    b = blocks(raw, 20)
    return _asymmetric(nibbles(b[..., 4:]), f16(b[..., 0:2]), f16(b[..., 2:4]))


def decode_q5_0(raw: np.ndarray) -> QuantGroups:
    b = blocks(raw, 22)
    q = nibbles(b[..., 6:]) | _fifth_bits(b[..., 2:6])
    q -= 16
    return QuantGroups(q, _ones(q), f16(b[..., 0:2]))


def decode_q5_1(raw: np.ndarray) -> QuantGroups:
    b = blocks(raw, 24)
    q = nibbles(b[..., 8:]) | _fifth_bits(b[..., 4:8])
    return _asymmetric(q, f16(b[..., 0:2]), f16(b[..., 2:4]))
