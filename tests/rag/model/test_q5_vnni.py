"""The 5-bit group kernel by VNNI (``vpdpbusd`` on words unpacked in registers) against the 16-bit one.

Both read the stored nibbles and inverted fifth bits as they are; their
integer sums must be exact over every 5-bit value and the whole int8 range
of activations, for Q5_0 (``sum v x``: the offset ``16 sum x`` removed) and
Q5_1 (``sum (v + 16) x``); with any scales their outputs must agree up to the
order of the float steps, and a row's result must not depend on the rows
beside it. The layers take the VNNI kernel exactly where the CPU has VNNI.
"""

from __future__ import annotations

import numpy as np
import pytest

from rag.model.half import to_half
from rag.model.q5_kernels import q5_tiles, q5_tiles_plain, q5_tiles_vnni
from rag.model.q8_kernels import activation_sums
from rag.model.tile_kernels import TILE, quantize_activations
from rag.model.vnni import has_vnni

NEEDS_VNNI = pytest.mark.skipif(not has_vnni(), reason="the CPU has no AVX-512 VNNI")
NT, G = 3, 6  # tiles of 64 rows, groups of 32 values


def stored(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random nibble bytes q uint8 (NT, G, 16, TILE) and inverted bit words h uint16 (NT, G, 2, TILE)."""
    rng = np.random.default_rng(seed)
    q = rng.integers(0, 256, (NT, G, 16, TILE), dtype=np.uint8)
    h = rng.integers(0, 1 << 16, (NT, G, 2, TILE), dtype=np.uint16)
    q[0, :, :, 0], h[0, :, :, 0] = 0x00, 0xFFFF  # every value -16
    q[0, :, :, 1], h[0, :, :, 1] = 0xFF, 0x0000  # every value 15
    return q, h


def values(q: np.ndarray, h: np.ndarray) -> np.ndarray:
    """The signed values v = nibble - 16 * inverted bit, int64 (NT * TILE, G * 32)."""
    nib = np.concatenate([q & 15, q >> 4], axis=2).astype(np.int64)  # (NT, G, 32, TILE)
    bit = (h[:, :, :, None, :].astype(np.int64) >> np.arange(16)[None, None, None, :, None]) & 1
    v = nib - 16 * bit.reshape(NT, G, 32, TILE)
    return v.transpose(0, 3, 1, 2).reshape(NT * TILE, G * 32)


def activations(seed: int, rows: int = 5) -> np.ndarray:
    """Integer activations whose groups reach +-127 (an int8 scale of 1), the extremes in row 0."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-127, 128, (rows, G, 32))
    x[:, :, 0] = np.where(rng.random((rows, G)) < 0.5, -127, 127)
    x[0] = -127
    return x.reshape(rows, G * 32).astype(np.float32)


def run(kernel, q, h, d, m, x: np.ndarray) -> np.ndarray:  # noqa: ANN001
    xq, xd, xs = quantize_activations(x)
    out = np.full((x.shape[0], NT * TILE), np.nan, np.float32)
    kernel(q, h, d, m, xq, xd, xs, activation_sums(xq), 0, NT, 0, out)
    return out


@pytest.mark.parametrize("kernel", [q5_tiles_plain, pytest.param(q5_tiles_vnni, marks=NEEDS_VNNI)])
@pytest.mark.parametrize("asym", [False, True])
def test_integer_sums_are_exact(kernel, asym):
    # unit scales, zero minimum, integer activations: every float step is exact, the output is the integer sum
    q, h = stored(1)
    ones = np.full((NT, G, TILE), 0x3C00, np.uint16)  # half 1.0
    m = np.zeros((NT, G if asym else 0, TILE), np.uint16)
    x = activations(2)
    v = values(q, h) + (16 if asym else 0)
    exact = x.astype(np.int64) @ v.T
    np.testing.assert_array_equal(run(kernel, q, h, ones, m, x), exact.astype(np.float32))


@NEEDS_VNNI
@pytest.mark.parametrize("asym", [False, True])
def test_vnni_is_the_16_bit_kernel_with_any_scales(asym):
    rng = np.random.default_rng(3)
    q, h = stored(4)
    d = to_half(rng.uniform(0.001, 0.02, (NT, G, TILE)).astype(np.float32))
    m = to_half(rng.uniform(-0.2, 0.0, (NT, G if asym else 0, TILE)).astype(np.float32))
    x = rng.standard_normal((7, G * 32)).astype(np.float32)
    plain, vnni = run(q5_tiles_plain, q, h, d, m, x), run(q5_tiles_vnni, q, h, d, m, x)
    np.testing.assert_allclose(vnni, plain, rtol=0, atol=4 * float(np.spacing(np.abs(plain).max())))
    for i in range(x.shape[0]):  # a row alone, as among others
        np.testing.assert_array_equal(run(q5_tiles_vnni, q, h, d, m, x[i : i + 1])[0], vnni[i])


def test_the_layers_take_the_vnni_kernel_where_the_cpu_has_vnni():
    assert q5_tiles is (q5_tiles_vnni if has_vnni() else q5_tiles_plain)
