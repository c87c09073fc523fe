"""The tile products compute each token row alone: a call of many rows gives, row for row, exactly what a
call of that row alone gives (speculative verification and prompt passes rely on it), and the products are
the dequantized weights times the int8-rounded activations up to float32 rounding."""

from __future__ import annotations

import numpy as np
import pytest

from rag.model.block_kernels import block_dequantize, block_tiles
from rag.model.half import to_half
from rag.model.tile_kernels import (
    TILE,
    q4_dequantize,
    q4_tiles,
    q8_dequantize,
    q8_tiles,
    quantize_activations,
)

ROWS = (1, 2, 7, 40, 64)
NT, G = 3, 6  # 192 outputs, 192 inputs


def _activations(rows: int, seed: int) -> tuple[np.ndarray, ...]:
    x = np.random.default_rng(seed).standard_normal((rows, G * 32)).astype(np.float32)
    x[0, :32] = 127.0  # a group at the int8 extreme, the largest integer sums
    return quantize_activations(x)


def _half(rng: np.random.Generator, scale: float, shape: tuple[int, ...]) -> np.ndarray:
    return to_half(rng.random(shape, np.float32) * scale).reshape(shape)


def _q4(rng):
    q = rng.integers(0, 256, (NT, G, 16, TILE), dtype=np.uint8)
    q[0, 0] = 255  # every nibble 15
    d, m = _half(rng, 0.02, (NT, G, TILE)), _half(rng, -0.1, (NT, G, TILE))
    w = np.empty((NT * TILE, G * 32), np.float32)
    q4_dequantize(q, d, m, w)
    return (q, d, m), w, lambda a, xq, xd, xs, out: q4_tiles(*a, xq, xd, xs, 0, NT, 0, out)


def _q8(rng):
    q = rng.integers(-127, 128, (NT, G, 32, TILE), dtype=np.int8)
    q[0, 0] = -127
    d = _half(rng, 0.01, (NT, G, TILE))
    w = np.empty((NT * TILE, G * 32), np.float32)
    q8_dequantize(q, d, w)
    return (q, d), w, lambda a, xq, xd, xs, out: q8_tiles(*a, xq, xd, 0, NT, 0, out)


def _block(rng):
    q = rng.integers(-32, 32, (NT, G, 32, TILE), dtype=np.int8)  # Q6_K's range
    sc = rng.integers(-64, 64, (NT, G, 2, TILE), dtype=np.int8)
    mn = rng.integers(0, 64, (NT, G, TILE), dtype=np.int8)
    d, dmin = _half(rng, 0.001, (NT, G // 2, TILE)), _half(rng, 0.001, (NT, G // 2, TILE))  # 2 groups a block
    w = np.empty((NT * TILE, G * 32), np.float32)
    block_dequantize(q, sc, mn, d, dmin, w)
    return (q, sc, mn, d, dmin), w, lambda a, xq, xd, xs, out: block_tiles(*a, xq, xd, xs, 0, NT, 0, out)


@pytest.mark.parametrize("make", [_q4, _q8, _block], ids=["q4", "q8", "block"])
@pytest.mark.parametrize("rows", ROWS)
def test_many_rows_equal_each_row_alone(make, rows):
    arrays, weight, product = make(np.random.default_rng(rows))
    xq, xd, xs = _activations(rows, seed=100 + rows)
    together = np.full((rows, NT * TILE), np.nan, np.float32)
    product(arrays, xq, xd, xs, together)
    for i in range(rows):
        alone = np.full((1, NT * TILE), np.nan, np.float32)
        product(arrays, xq[i : i + 1], xd[i : i + 1], xs[i : i + 1], alone)
        assert np.array_equal(alone[0], together[i]), f"row {i} of {rows}"
    x = xq.astype(np.float64) * np.repeat(xd.astype(np.float64), 32, axis=1)  # the activations as rounded
    reference = x @ weight.astype(np.float64).T
    np.testing.assert_allclose(together, reference, rtol=1e-4, atol=1e-4 * np.abs(reference).max())


def test_a_product_writes_its_tiles_from_its_column():
    arrays, _, _ = _q4(np.random.default_rng(0))
    xq, xd, xs = _activations(5, seed=1)
    whole = np.empty((5, NT * TILE), np.float32)
    q4_tiles(*arrays, xq, xd, xs, 0, NT, 0, whole)
    shifted = np.full((5, 7 + NT * TILE), np.nan, np.float32)
    q4_tiles(*arrays, xq, xd, xs, 1, NT, 7, shifted)  # tiles 1.. only, written from column 7 + TILE on
    assert np.isnan(shifted[:, : 7 + TILE]).all()
    assert np.array_equal(shifted[:, 7 + TILE :], whole[:, TILE:])
