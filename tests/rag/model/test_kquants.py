"""Tensor types: our dequantizers against gguf.quants, the layers that keep each type's integers, bad headers.

The block formats are read bit for bit as ``gguf.quants`` reads them, on random
blocks (every bit pattern of the integer fields; finite half scales). Each
format's layer (``loader._KERNELS``) must give back the same weights (exactly,
or for Q4_K within the half rounding of its group scales), the same rows for an
embedding lookup, and products close to the float ones. Files whose header
lies about its sizes are refused before anything the header asks for is allocated.
"""

from __future__ import annotations

import struct
import tracemalloc

import numpy as np
import pytest
import torch
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFWriter
from gguf.quants import dequantize as reference
from gguf.quants import quantize

from rag.model.errors import ModelFileError
from rag.model.gguf_file import GGUFFile
from rag.model.group_quant import Int4Linear, RowConcat
from rag.model.loader import _KERNELS
from rag.model.quants import SUPPORTED_TYPES, check_type, decode_groups, dequantize

# byte ranges of each block format's fp16 scales, set to finite values in random blocks
_HALVES = {
    "Q4_0": [(0, 2)],
    "Q4_1": [(0, 2), (2, 4)],
    "Q5_0": [(0, 2)],
    "Q5_1": [(0, 2), (2, 4)],
    "Q8_0": [(0, 2)],
    "Q4_K": [(0, 2), (2, 4)],
    "Q5_K": [(0, 2), (2, 4)],
    "Q6_K": [(208, 210)],
}
ROWS, COLS = 130, 512  # 130 rows: two whole tiles of 64 and a partial one


def random_blocks(name: str, rows: int = ROWS, cols: int = COLS, seed: int = 0) -> np.ndarray:
    """Random bytes of ``rows`` rows of format ``name``, its half scales finite: uint8 (rows, row_bytes)."""
    rng = np.random.default_rng(seed)
    block, size = GGML_QUANT_SIZES[GGMLQuantizationType[name]]
    raw = rng.integers(0, 256, (rows, cols // block, size), dtype=np.uint8)
    for a, b in _HALVES[name]:
        halves = rng.uniform(-0.02, 0.02, (rows, cols // block)).astype(np.float16)
        raw[..., a:b] = halves.view(np.uint8).reshape(rows, cols // block, 2)
    return raw.reshape(rows, -1)


@pytest.mark.parametrize("name", list(_HALVES))
def test_block_formats_dequantize_like_gguf_on_random_blocks(name):
    qtype = GGMLQuantizationType[name]
    raw = random_blocks(name)
    ours = dequantize(raw, qtype, COLS)
    np.testing.assert_array_equal(ours, reference(raw, qtype).reshape(ROWS, COLS))
    np.testing.assert_array_equal(decode_groups(raw, qtype, COLS).dequantize(), ours)


@pytest.mark.parametrize("name", ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"])
def test_types_gguf_quantizes_read_back_exactly(name):
    qtype = GGMLQuantizationType[name]
    w = np.random.default_rng(1).standard_normal((40, 256)).astype(np.float32)
    raw = quantize(w, qtype).view(np.uint8).reshape(w.shape[0], -1)
    np.testing.assert_array_equal(dequantize(raw, qtype, 256), reference(raw, qtype).reshape(w.shape))


@pytest.mark.parametrize("name", list(_HALVES))
def test_each_format_keeps_its_integers_in_its_layer(name):
    qtype = GGMLQuantizationType[name]
    raw = random_blocks(name, seed=2)
    w = dequantize(raw, qtype, COLS)
    layer = _KERNELS[qtype].from_groups(decode_groups(raw, qtype, COLS))
    held = layer.dequantize().numpy()
    if name == "Q4_K":  # group scale d*sc and minimum dmin*m rounded to half: at most 2^-12 of them
        g = decode_groups(raw, qtype, COLS)
        bound = (np.abs(g.group_scales()[..., 0]) * 15 + np.abs(g.group_mins())) * 2.0**-11
        assert np.all(np.abs(held - w).reshape(ROWS, -1, 32) <= bound[..., None])
    else:
        np.testing.assert_array_equal(held, w)
    ids = torch.tensor([[0, 129], [64, 7]])
    np.testing.assert_array_equal(layer.rows(ids).numpy(), held[ids.numpy()])
    x = np.random.default_rng(3).standard_normal((20, COLS)).astype(np.float32)
    expected = x @ held.T
    few = layer(torch.from_numpy(x[:3])).numpy()  # the integer kernel (activations quantized to int8)
    assert np.linalg.norm(few - expected[:3]) <= 0.02 * np.linalg.norm(expected[:3])
    many = layer(torch.from_numpy(x)).numpy()  # the float path of long inputs
    np.testing.assert_allclose(many, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_row_concat_runs_parts_of_different_layouts():
    parts = [
        _KERNELS[GGMLQuantizationType[n]].from_groups(
            decode_groups(random_blocks(n, rows=70, seed=4), GGMLQuantizationType[n], COLS)
        )
        for n in ("Q4_K", "Q6_K")
    ]
    layer = RowConcat(parts)
    x = torch.from_numpy(np.random.default_rng(5).standard_normal((2, COLS)).astype(np.float32))
    torch.testing.assert_close(layer(x), torch.cat([p(x) for p in parts], dim=-1))
    assert layer.out_features == 140 and layer.dequantize().shape == (140, COLS)


def test_q4_0_becomes_unsigned_nibbles_exactly():
    raw = random_blocks("Q4_0", seed=6)
    layer = Int4Linear.from_groups(decode_groups(raw, GGMLQuantizationType.Q4_0, COLS))
    np.testing.assert_array_equal(layer.dequantize().numpy(), dequantize(raw, GGMLQuantizationType.Q4_0, COLS))


def test_unsupported_types_are_named_with_the_supported_ones(tmp_path):
    with pytest.raises(ModelFileError, match=r"IQ4_NL of tensor 'w'.*supported: .*Q4_K.*Q6_K"):
        check_type(GGMLQuantizationType.IQ4_NL, "w")
    assert {"Q4_K", "Q5_K", "Q6_K", "Q5_0", "Q5_1", "BF16", "Q8_0", "Q4_0", "Q4_1", "F16", "F32"} <= set(
        SUPPORTED_TYPES
    )
    path = tmp_path / "iq.gguf"
    w = GGUFWriter(str(path), "llama")
    w.add_tensor("w", np.zeros((4, 18), np.uint8), raw_dtype=GGMLQuantizationType.IQ4_NL)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with GGUFFile(path) as f, pytest.raises(ModelFileError, match="IQ4_NL is not supported"):
        f.dequantize("w")


# -- headers that lie ---------------------------------------------------------


@pytest.fixture
def small_gguf(tmp_path) -> bytes:
    """A valid GGUF: a string key, an array key and two F32 tensors."""
    path = tmp_path / "small.gguf"
    w = GGUFWriter(str(path), "llama")
    w.add_string("general.name", "tiny")
    w.add_array("tokenizer.ggml.tokens", ["a", "b", "c"])
    w.add_tensor("alpha", np.arange(64, dtype=np.float32).reshape(2, 32))
    w.add_tensor("beta", np.ones(32, np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path.read_bytes()


def _refused(tmp_path, data: bytes, match: str) -> None:
    """Opening ``data`` raises ModelFileError matching ``match`` and allocates under 4 MB on the way."""
    path = tmp_path / "lie.gguf"
    path.write_bytes(data)
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match=match):
            GGUFFile(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20


def _patch(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    return data[:offset] + struct.pack(fmt, value) + data[offset + struct.calcsize(fmt) :]


def _tensor_entry(data: bytes, name: bytes) -> int:
    """Offset of tensor ``name``'s dimension count in the header."""
    return data.index(struct.pack("<Q", len(name)) + name) + 8 + len(name)


def test_the_crafted_file_itself_reads(small_gguf, tmp_path):
    path = tmp_path / "ok.gguf"
    path.write_bytes(small_gguf)
    with GGUFFile(path) as f:
        np.testing.assert_array_equal(f.dequantize("alpha"), np.arange(64, dtype=np.float32).reshape(2, 32))


def test_huge_counts_in_the_header_are_refused(small_gguf, tmp_path):
    _refused(tmp_path, _patch(small_gguf, 8, "<Q", 2**60), "claims 1152921504606846976 tensors")
    _refused(tmp_path, _patch(small_gguf, 16, "<Q", 2**40), "metadata keys")
    array = small_gguf.index(b"tokenizer.ggml.tokens") + len(b"tokenizer.ggml.tokens") + 8  # type, item type, count
    _refused(tmp_path, _patch(small_gguf, array, "<Q", 2**50), "array items")
    key = small_gguf.index(b"general.name") - 8
    _refused(tmp_path, _patch(small_gguf, key, "<Q", 2**62), "bytes of a string")
    dims = _tensor_entry(small_gguf, b"alpha")
    _refused(tmp_path, _patch(small_gguf, dims, "<I", 2**20), "dimensions")


def test_tensor_data_past_the_end_is_refused(small_gguf, tmp_path):
    dims = _tensor_entry(small_gguf, b"alpha")
    _refused(tmp_path, _patch(small_gguf, dims + 4 + 8, "<Q", 2**20), "past the end")  # 2**20 rows of 32
    wrap = _patch(_patch(small_gguf, dims + 4, "<Q", 2**32), dims + 4 + 8, "<Q", 2**32)  # 2^64 values: no wrap
    _refused(tmp_path, wrap, "past the end")
    _refused(tmp_path, _patch(small_gguf, dims + 4 + 16, "<I", 10_000), "type id 10000")


def test_truncated_files_are_refused(small_gguf, tmp_path):
    for cut in (3, 20, len(small_gguf) // 3, len(small_gguf) - 1):
        _refused(tmp_path, small_gguf[:cut], "not a readable GGUF")
