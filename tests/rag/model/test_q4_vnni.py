"""The 4-bit tile kernel by VNNI (``vpdpbusd`` on nibbles unpacked to bytes in registers) against the 16-bit one.

Both read the stored nibble planes as they are; their integer sums must be
exact over every nibble and the whole int8 range of activations; with any
scales and minimums their outputs must agree up to the order of the float
steps, a row's result must not depend on the rows beside it, and the layers
take the VNNI kernel exactly where the CPU has VNNI.
"""

from __future__ import annotations

import numpy as np
import pytest

from rag.model.half import to_half
from rag.model.tile_kernels import TILE, q4_tiles, q4_tiles_plain, q4_tiles_vnni, quantize_activations
from rag.model.vnni import has_vnni
from tests.rag.model.test_q5_vnni import NT, G, activations

NEEDS_VNNI = pytest.mark.skipif(not has_vnni(), reason="the CPU has no AVX-512 VNNI")


def nibbles(seed: int) -> np.ndarray:
    """Random nibble bytes q uint8 (NT, G, 16, TILE), rows 0 and 1 all 0 and all 15."""
    q = np.random.default_rng(seed).integers(0, 256, (NT, G, 16, TILE), dtype=np.uint8)
    q[0, :, :, 0], q[0, :, :, 1] = 0x00, 0xFF
    return q


def run(kernel, q, d, m, x: np.ndarray) -> np.ndarray:  # noqa: ANN001
    xq, xd, xs = quantize_activations(x)
    out = np.full((x.shape[0], NT * TILE), np.nan, np.float32)
    kernel(q, d, m, xq, xd, xs, 0, NT, 0, out)
    return out


@pytest.mark.parametrize("kernel", [q4_tiles_plain, pytest.param(q4_tiles_vnni, marks=NEEDS_VNNI)])
def test_integer_sums_are_exact(kernel):
    # unit scales, zero minimums, integer activations: the output is the integer sum itself
    q = nibbles(1)
    u = np.concatenate([q & 15, q >> 4], axis=2).astype(np.int64).transpose(0, 3, 1, 2).reshape(NT * TILE, -1)
    ones, zeros = np.full((NT, G, TILE), 0x3C00, np.uint16), np.zeros((NT, G, TILE), np.uint16)
    x = activations(2)
    exact = x.astype(np.int64) @ u.T
    np.testing.assert_array_equal(run(kernel, q, ones, zeros, x), exact.astype(np.float32))


@NEEDS_VNNI
def test_vnni_is_the_16_bit_kernel_with_any_scales():
    rng = np.random.default_rng(3)
    q = nibbles(4)
    d = to_half(rng.uniform(0.001, 0.02, (NT, G, TILE)).astype(np.float32))
    m = to_half(rng.uniform(-0.2, 0.0, (NT, G, TILE)).astype(np.float32))
    x = rng.standard_normal((7, G * 32)).astype(np.float32)
    plain, vnni = run(q4_tiles_plain, q, d, m, x), run(q4_tiles_vnni, q, d, m, x)
    np.testing.assert_allclose(vnni, plain, rtol=0, atol=4 * float(np.spacing(np.abs(plain).max())))
    for i in range(x.shape[0]):  # a row alone, as among others
        np.testing.assert_array_equal(run(q4_tiles_vnni, q, d, m, x[i : i + 1])[0], vnni[i])


def test_the_layers_take_the_vnni_kernel_where_the_cpu_has_vnni():
    assert q4_tiles is (q4_tiles_vnni if has_vnni() else q4_tiles_plain)
