"""The 5-bit group layer (Q5_0, Q5_1 kept at 5.5 and 6 bits a weight) and its kernel.

The layer must hold the file's weights bit for bit; its product must be the
int8 group kernel's on the same integers, bit for bit, for Q5_0 (the same
exact integer sums, the same float steps), within the int8-activation
tolerance of the float product for both, and a row's result must not depend
on how many rows share the call. A model file of Q5_0 (and Q5_1) tensors
written by gguf's writer loads into the layer and decodes through the
one-call step with the module path's logits.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter
from gguf.quants import quantize

from rag.model import load_gguf
from rag.model.group_quant import Int8GroupLinear
from rag.model.loader import _KERNELS
from rag.model.q5_quant import Int5GroupLinear
from rag.model.quants import QuantGroups, decode_groups, dequantize
from tests.rag.model.test_kquants import COLS, ROWS, random_blocks

FORMATS = ("Q5_0", "Q5_1")


def layer_of(name: str, seed: int) -> tuple[Int5GroupLinear, np.ndarray]:
    """The layer of random blocks of format ``name``, and the file's float32 weights (ROWS, COLS)."""
    qtype = GGMLQuantizationType[name]
    raw = random_blocks(name, seed=seed)
    return Int5GroupLinear.from_groups(decode_groups(raw, qtype, COLS)), dequantize(raw, qtype, COLS)


@pytest.mark.parametrize("name", FORMATS)
def test_the_loader_keeps_q5_in_five_bits_with_the_files_weights(name):
    layer, w = layer_of(name, seed=10)
    assert _KERNELS[GGMLQuantizationType[name]] is Int5GroupLinear
    np.testing.assert_array_equal(layer.dequantize().numpy(), w)
    ids = torch.tensor([[0, 129], [64, 7]])
    np.testing.assert_array_equal(layer.rows(ids).numpy(), w[ids.numpy()])
    padded = layer.d.shape[0] * 64 * COLS // 32  # groups, the last tile's padding rows included
    assert layer.nbytes() == padded * (22 if name == "Q5_0" else 24)


def test_q5_0_integer_sums_are_exact_and_the_int8_kernels():
    # unit scales and integer activations whose groups reach +-127 (so their int8 scale is 1): every float step
    # is then exact, and the output is the integer product itself, whatever the compiler reorders
    rng = np.random.default_rng(11)
    v = rng.integers(-16, 16, (ROWS, COLS // 32, 32), dtype=np.int8)
    v[0], v[1] = -16, 15  # the extremes of 5 bits
    groups = QuantGroups(v, np.ones((ROWS, COLS // 32, 1), np.int8), np.ones((ROWS, COLS // 32), np.float32))
    five, eight = Int5GroupLinear.from_groups(groups), Int8GroupLinear.from_groups(groups)
    x = rng.integers(-127, 128, (7, COLS // 32, 32))
    x[:, :, 0] = np.where(rng.random((7, COLS // 32)) < 0.5, -127, 127)
    x[0] = -127  # the extremes of int8 against all of them
    x = x.reshape(7, COLS).astype(np.float32)
    exact = x.astype(np.int64) @ v.reshape(ROWS, COLS).astype(np.int64).T
    for rows in (1, 7):
        out = five(torch.from_numpy(x[:rows]))
        np.testing.assert_array_equal(out.numpy(), exact[:rows].astype(np.float32))
        torch.testing.assert_close(out, eight(torch.from_numpy(x[:rows])), rtol=0, atol=0)


def test_q5_0_products_are_the_int8_kernels_on_the_same_integers():
    # any scales: the same integer sums under the same float steps, up to the order the compiler gives them
    raw = random_blocks("Q5_0", seed=11)
    groups = decode_groups(raw, GGMLQuantizationType.Q5_0, COLS)
    five, eight = Int5GroupLinear.from_groups(groups), Int8GroupLinear.from_groups(groups)
    x = torch.from_numpy(np.random.default_rng(12).standard_normal((7, COLS)).astype(np.float32))
    a, b = five(x), eight(x)
    torch.testing.assert_close(a, b, rtol=0, atol=4 * float(np.spacing(b.abs().max().numpy())))


@pytest.mark.parametrize("name", FORMATS)
def test_a_rows_result_does_not_depend_on_the_rows_beside_it(name):
    layer, _ = layer_of(name, seed=13)
    x = torch.from_numpy(np.random.default_rng(14).standard_normal((9, COLS)).astype(np.float32))
    together = layer(x)
    for i in range(x.shape[0]):
        torch.testing.assert_close(layer(x[i : i + 1])[0], together[i], rtol=0, atol=0)


@pytest.mark.parametrize("name", FORMATS)
def test_products_are_the_float_ones_within_int8_activation_rounding(name):
    layer, w = layer_of(name, seed=15)
    x = np.random.default_rng(16).standard_normal((20, COLS)).astype(np.float32)
    expected = x @ w.T
    few = layer(torch.from_numpy(x[:3])).numpy()  # the 5-bit kernel (activations quantized to int8)
    assert np.linalg.norm(few - expected[:3]) <= 0.01 * np.linalg.norm(expected[:3])
    many = layer(torch.from_numpy(x)).numpy()  # the float path of long inputs
    np.testing.assert_allclose(many, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_values_outside_five_bits_are_refused():
    groups = decode_groups(random_blocks("Q8_0", rows=4, seed=17), GGMLQuantizationType.Q8_0, COLS)
    with pytest.raises(ValueError, match="5 bits"):
        Int5GroupLinear.from_groups(groups)


# -- a whole file -------------------------------------------------------------------------------------------


def write_q5_llama(path: str, tokenizer_from: str, dim: int = 128, layers: int = 2, ffn: int = 256) -> None:
    """A random Llama GGUF: Q5_0 attention and gate/up, Q5_1 down, Q8_0 embedding (gguf's writer and quantizer)."""
    rng = np.random.default_rng(0)
    reader = GGUFReader(tokenizer_from)
    vocab = len(reader.fields["tokenizer.ggml.tokens"].contents())
    w = GGUFWriter(path, "llama")
    for field in reader.fields.values():
        if field.name.startswith("tokenizer."):
            sub = field.types[-1] if field.types[0] == GGUFValueType.ARRAY else None
            w.add_key_value(field.name, field.contents(), field.types[0], sub_type=sub)
    w.add_context_length(256), w.add_embedding_length(dim), w.add_block_count(layers)
    w.add_feed_forward_length(ffn), w.add_head_count(4), w.add_head_count_kv(2)
    w.add_rope_freq_base(1e4), w.add_layer_norm_rms_eps(1e-5), w.add_rope_dimension_count(dim // 4)

    def add(name: str, rows: int, cols: int, qtype: GGMLQuantizationType, scale: float = 1.0) -> None:
        m = (rng.standard_normal((rows, cols)) * scale / np.sqrt(cols)).astype(np.float32)
        w.add_tensor(name, quantize(m, qtype), raw_dtype=qtype)

    q50, q51 = GGMLQuantizationType.Q5_0, GGMLQuantizationType.Q5_1
    add("token_embd.weight", vocab, dim, GGMLQuantizationType.Q8_0, np.sqrt(dim))
    w.add_tensor("output_norm.weight", np.ones(dim, np.float32))
    for i in range(layers):
        p = f"blk.{i}."
        for name, rows in (("attn_q", dim), ("attn_k", dim // 2), ("attn_v", dim // 2), ("attn_output", dim)):
            add(p + name + ".weight", rows, dim, q50)
        add(p + "ffn_gate.weight", ffn, dim, q50), add(p + "ffn_up.weight", ffn, dim, q50)
        add(p + "ffn_down.weight", dim, ffn, q51)
        w.add_tensor(p + "attn_norm.weight", np.ones(dim, np.float32))
        w.add_tensor(p + "ffn_norm.weight", np.ones(dim, np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@pytest.mark.slow
def test_a_q5_file_decodes_through_the_step_as_through_the_modules(gguf_path, load, tmp_path):
    from tests.rag.model.test_decode_step_kquants import check_step_equals_modules

    load("int4")  # the session's thread settings (one thread)
    path = str(tmp_path / "q5.gguf")
    write_q5_llama(path, gguf_path)
    model, _ = load_gguf(path, "int4", threads=1)
    five = [m for m in model.modules() if isinstance(m, Int5GroupLinear)]
    assert {m.symmetric for m in five} == {True, False}  # Q5_0 and Q5_1 layers
    assert model.decode_step is not None
    check_step_equals_modules(path, {"Int8GroupLinear"})
