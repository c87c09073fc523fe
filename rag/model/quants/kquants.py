"""The 256-value K-quant block formats -> :class:`QuantGroups` (numpy, vectorised).

A super-block of 256 values has fp16 float scales and 8 groups of 32 (or 16 of 16):

* ``Q4_K`` (144 bytes): fp16 ``d``, fp16 ``dmin``, 12 bytes of 6-bit scales and minimums
  (8 each), 128 bytes of nibbles;                 w = d * sc[g] * q - dmin * m[g], q in 0..15
* ``Q5_K`` (176 bytes): as Q4_K, plus 32 bytes of fifth bits before the nibbles; q in 0..31
* ``Q6_K`` (210 bytes): 128 bytes of low nibbles, 64 of 2-bit high parts, 16 int8 scales
  (one per 16 values), fp16 ``d``;                w = d * sc[g16] * (q - 32), q in 0..63

Nibbles come in chunks of 32 bytes per 64 values: group ``2i`` is the low nibbles of
chunk ``i``, group ``2i + 1`` its high nibbles (Q6_K: chunks of 64 bytes per 128 values,
with the high parts' four 2-bit fields of 32 bytes giving the four groups of 32).
"""

from __future__ import annotations

import numpy as np

from rag.model.quants.groups import QuantGroups
from rag.model.quants.legacy import blocks, f16

QK_K = 256


def _scale_min(scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 12 packed bytes (rows, n, 12) -> 6-bit scales and minimums, int8 (rows, n, 8) each.

    Bytes 0-3 hold scales 0-3 (low 6 bits) and the top bits of scales 4-7; bytes 4-7 the
    same for minimums; bytes 8-11 the low nibbles of scales 4-7 and (high nibble) of minimums 4-7.
    """
    d, m, md = scales[..., 0:4], scales[..., 4:8], scales[..., 8:12]
    sc = np.concatenate([d & 0x3F, (md & 0x0F) | ((d >> 2) & 0x30)], axis=-1)
    mn = np.concatenate([m & 0x3F, (md >> 4) | ((m >> 2) & 0x30)], axis=-1)
    return sc.astype(np.int8), mn.astype(np.int8)


def _low_high(qs: np.ndarray, chunk: int) -> np.ndarray:
    """Nibble bytes (rows, n, k * chunk) -> uint8 (rows, n, 2k, chunk): each chunk's low then high nibbles."""
    c = qs.reshape(*qs.shape[:2], -1, 1, chunk)
    return np.concatenate([c & 0x0F, c >> 4], axis=-2).reshape(*qs.shape[:2], -1, chunk)


def _k_groups(b: np.ndarray, q: np.ndarray) -> QuantGroups:
    """A Q4_K/Q5_K super-block's fields around its values q (rows, n, 8, 32) -> groups."""
    rows, n = b.shape[:2]
    sc, mn = _scale_min(b[..., 4:16])
    return QuantGroups(
        q.reshape(rows, n * 8, 32).astype(np.int8),
        sc.reshape(rows, n * 8, 1),
        f16(b[..., 0:2]),
        mn.reshape(rows, n * 8),
        f16(b[..., 2:4]),
    )


def decode_q4_k(raw: np.ndarray) -> QuantGroups:
    b = blocks(raw, 144)
    return _k_groups(b, _low_high(b[..., 16:], 32))


def decode_q5_k(raw: np.ndarray) -> QuantGroups:
    b = blocks(raw, 176)
    qh = b[..., 16:48].reshape(*b.shape[:2], 1, 32) >> np.arange(8, dtype=np.uint8).reshape(8, 1)
    q = _low_high(b[..., 48:], 32) | ((qh & 1) << 4)
    return _k_groups(b, q)


def decode_q6_k(raw: np.ndarray) -> QuantGroups:
    b = blocks(raw, 210)
    rows, n = b.shape[:2]
    low = _low_high(b[..., 0:128], 64).reshape(rows, n, 2, 2, 2, 32)  # (half, nibble, 32-chunk, 32)
    qh = b[..., 128:192].reshape(rows, n, 2, 1, 32) >> np.array([0, 2, 4, 6], np.uint8).reshape(4, 1)
    high = (qh & 3).reshape(rows, n, 2, 2, 2, 32)  # (half, field // 2, field % 2, 32)
    q = (low | (high << 4)).astype(np.int8) - np.int8(32)
    return QuantGroups(
        q.reshape(rows, n * 8, 32),
        np.ascontiguousarray(b[..., 192:208]).view(np.int8).reshape(rows, n * 8, 2),
        f16(b[..., 208:210]),
    )
