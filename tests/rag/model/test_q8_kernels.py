"""The 8-bit group kernels on words of 4 offset bytes (VNNI's ``vpdpbusd``, and plain code without it).

Their integer sums must be exact over the whole int8 range of weights and
activations, on the VNNI and the plain path alike; a row's result must not
depend on how many rows share the call; the layer must hold a Q8_0 file's
weights bit for bit (embedding rows too), and its products must be the
16-bit kernel's on the same integers.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gguf import GGMLQuantizationType

from rag.model.group_quant import Int8GroupLinear, _tiles
from rag.model.loader import _KERNELS
from rag.model.q8_kernels import (
    activation_sums,
    from_words,
    has_vnni,
    q8w_tiles,
    q8w_tiles_plain,
    q8w_tiles_vnni,
    to_words,
)
from rag.model.quants import decode_groups, dequantize
from rag.model.tile_kernels import TILE, q8_tiles, quantize_activations
from tests.rag.model.test_kquants import COLS, ROWS, random_blocks

KERNELS = [
    q8w_tiles_plain,
    pytest.param(q8w_tiles_vnni, marks=pytest.mark.skipif(not has_vnni(), reason="the CPU has no AVX-512 VNNI")),
]


def extreme_integers(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """int8 weights (ROWS, COLS // 32, 32) and activations (40, COLS), both reaching their range's ends."""
    rng = np.random.default_rng(seed)
    w = rng.integers(-128, 128, (ROWS, COLS // 32, 32), dtype=np.int8)
    w[0], w[1], w[2, :, ::2] = -128, 127, -128  # whole rows at each end, and alternating
    x = rng.integers(-127, 128, (40, COLS), dtype=np.int8)
    x[0], x[1], x[2, ::3] = -127, 127, -127
    return w, x


@pytest.mark.parametrize("kernel", KERNELS)
def test_integer_sums_are_exact_and_a_rows_result_does_not_depend_on_the_others(kernel):
    w, x = extreme_integers(seed=1)
    u = to_words(w)
    d = np.full((u.shape[0], COLS // 32, TILE), 0x3C00, np.uint16)  # half 1.0: the output is the integer sum
    xd = np.ones((40, COLS // 32), np.float32)
    exact = x.astype(np.int64) @ w.reshape(ROWS, COLS).astype(np.int64).T
    full = None
    for rows in (1, 7, 40):
        out = np.full((rows, u.shape[0] * TILE), np.nan, np.float32)
        kernel(u, d, x[:rows], xd[:rows], activation_sums(x[:rows]), 0, u.shape[0], 0, out)
        np.testing.assert_array_equal(out[:, :ROWS], exact[:rows].astype(np.float32))
        np.testing.assert_array_equal(out[:, ROWS:], 0)  # padding rows hold the weight 0
        full = out if full is None else full
        np.testing.assert_array_equal(out[:1], full[:1])


def test_words_hold_every_int8_value_and_come_back():
    w, _ = extreme_integers(seed=2)
    u = to_words(w)
    assert u.dtype == np.uint8 and u.shape == (3, COLS // 32, 8, TILE, 4)
    rows = np.arange(ROWS)
    np.testing.assert_array_equal(from_words(u[rows // TILE, :, :, rows % TILE]), w)


def test_a_q8_0_file_loads_exactly_and_its_embedding_rows_too():
    raw = random_blocks("Q8_0", seed=3)
    assert _KERNELS[GGMLQuantizationType.Q8_0] is Int8GroupLinear
    layer = Int8GroupLinear.from_groups(decode_groups(raw, GGMLQuantizationType.Q8_0, COLS))
    w = dequantize(raw, GGMLQuantizationType.Q8_0, COLS)
    np.testing.assert_array_equal(layer.dequantize().numpy(), w)
    ids = torch.tensor([[0, 129], [64, 7]])
    np.testing.assert_array_equal(layer.rows(ids).numpy(), w[ids.numpy()])


def test_products_are_the_16_bit_kernels_on_the_same_integers():
    # any scales: the same exact integer sums under the same float steps, up to the order the compiler gives them
    raw = random_blocks("Q8_0", seed=4)
    groups = decode_groups(raw, GGMLQuantizationType.Q8_0, COLS)
    layer = Int8GroupLinear.from_groups(groups)
    x = np.random.default_rng(5).standard_normal((7, COLS)).astype(np.float32)
    xq, xd, _ = quantize_activations(x)
    nt = layer.d.shape[0]
    ref = np.empty((7, nt * TILE), np.float32)
    q8_tiles(_tiles(groups.q), layer.d, xq, xd, 0, nt, 0, ref)
    out = np.empty_like(ref)
    q8w_tiles(layer.q, layer.d, xq, xd, activation_sums(xq), 0, nt, 0, out)
    np.testing.assert_allclose(out, ref, rtol=0, atol=4 * float(np.spacing(np.abs(ref).max())))
    for rows in (1, 7):  # the module path: the same kernel on numba's pool
        got = layer(torch.from_numpy(x[:rows])).numpy()
        np.testing.assert_array_equal(got, out[:rows, :ROWS])
