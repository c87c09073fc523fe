"""The one-call decoding step on the files people bring: K-quants, 8-bit groups, fused parts of mixed types, a bias.

Two files from llama.cpp's own quantizer (``Q4_K_M``): the shipped SmolLM2
weights (576 wide, so llama.cpp falls back to Q5_0/Q8_0 groups everywhere but
``ffn_down``), and a random Qwen 2 model 256 wide, where every tensor is a
K-quant: Q4_K layers, Q6_K ``attn_v`` and ``ffn_down`` in some layers (so the
fused Q/K/V is a Q4_K part and a Q6_K part), a Q6_K tied embedding, and the
Q/K/V bias. Each must run on the step, and the step must give the module
path's greedy tokens and logits. Needs llama-cpp-python (the ``llamacpp`` extra).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install '.[llamacpp]')")
from gguf import GGUFReader, GGUFValueType, GGUFWriter  # noqa: E402

from rag.model import load_gguf  # noqa: E402
from rag.model.block_quant import Int8BlockLinear  # noqa: E402
from rag.model.gguf_file import GGUFFile  # noqa: E402
from rag.model.group_quant import Int4Linear, Int8GroupLinear, RowConcat  # noqa: E402
from tests.rag.model.test_quantized_vs_llamacpp import FTYPES, f16_gguf, quantize, quantized  # noqa: E402, F401

pytestmark = pytest.mark.slow
# step against modules, largest |difference| over largest |logit|: the same kernels on the same integers, in
# another compiled function (fused multiply-adds may differ). Measured: 0 on both files.
STEP_REL = 1e-5


def write_random_qwen2(path: str, tokenizer_from: str, dim: int, layers: int, ffn: int, seed: int = 0) -> None:
    """An F16 Qwen 2 GGUF of random weights (4 heads of dim // 4, 2 KV heads) and SmolLM2's tokenizer."""
    rng = np.random.default_rng(seed)
    reader = GGUFReader(tokenizer_from)
    vocab = len(reader.fields["tokenizer.ggml.tokens"].contents())
    w = GGUFWriter(path, "qwen2")
    for field in reader.fields.values():
        if field.name.startswith("tokenizer."):
            sub = field.types[-1] if field.types[0] == GGUFValueType.ARRAY else None
            w.add_key_value(field.name, field.contents(), field.types[0], sub_type=sub)
    heads, kv, hd = 4, 2, dim // 4
    w.add_context_length(256), w.add_embedding_length(dim), w.add_block_count(layers)
    w.add_feed_forward_length(ffn), w.add_head_count(heads), w.add_head_count_kv(kv)
    w.add_rope_freq_base(1e6), w.add_layer_norm_rms_eps(1e-6), w.add_file_type(1)

    def matrix(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) / np.sqrt(cols)).astype(np.float16)

    w.add_tensor("token_embd.weight", rng.standard_normal((vocab, dim)).astype(np.float16))
    w.add_tensor("output_norm.weight", np.ones(dim, np.float32))
    for i in range(layers):
        p = f"blk.{i}."
        for name, rows in (("attn_q", heads * hd), ("attn_k", kv * hd), ("attn_v", kv * hd)):
            w.add_tensor(p + name + ".weight", matrix(rows, dim))
            w.add_tensor(p + name + ".bias", (rng.standard_normal(rows) * 0.5).astype(np.float32))
        w.add_tensor(p + "attn_output.weight", matrix(dim, heads * hd))
        w.add_tensor(p + "ffn_gate.weight", matrix(ffn, dim))
        w.add_tensor(p + "ffn_up.weight", matrix(ffn, dim))
        w.add_tensor(p + "ffn_down.weight", matrix(dim, ffn))
        w.add_tensor(p + "attn_norm.weight", np.ones(dim, np.float32))
        w.add_tensor(p + "ffn_norm.weight", np.ones(dim, np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@pytest.fixture(scope="module")
def qwen2_q4_k_m(gguf_path, tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("qwen2")
    src, dst = str(folder / "qwen2-f16.gguf"), str(folder / "qwen2-q4km.gguf")
    write_random_qwen2(src, gguf_path, dim=256, layers=4, ffn=512)
    quantize(src, dst, FTYPES["Q4_K_M"])
    return dst


def decode(model, ids: list[int], prefix: int, greedy: int) -> tuple[torch.Tensor, list[int]]:
    """Logits (T - prefix, vocab) of ``ids`` fed one at a time after a prefix, then ``greedy`` argmax tokens."""
    with torch.inference_mode():
        cache = model.new_cache(len(ids) + greedy)
        model(torch.tensor([ids[:prefix]]), cache)
        logits = torch.cat([model(torch.tensor([[t]]), cache)[0] for t in ids[prefix:]])
        out, token = [], int(logits[-1].argmax())
        for _ in range(greedy):
            out.append(token)
            token = int(model(torch.tensor([[token]]), cache)[0, -1].argmax())
    return logits, out


def layer_kinds(model) -> set[str]:
    kinds = set()
    for m in model.modules():
        if isinstance(m, RowConcat):
            kinds.add("RowConcat")
        elif isinstance(m, (Int4Linear, Int8GroupLinear, Int8BlockLinear)):
            kinds.add(type(m).__name__)
    return kinds


def check_step_equals_modules(path: str, expected_kinds: set[str]) -> None:
    model, tok = load_gguf(path, "int4", threads=1)
    assert model.decode_step is not None, "every layer type the loader makes runs on the step"
    assert expected_kinds <= layer_kinds(model)
    ids = tok.encode("The quick brown fox jumps over the lazy dog. In 1889 the Eiffel Tower opened.")[:24]
    ours, greedy = decode(model, ids, 8, 16)
    saved, model.decode_step = model.decode_step, None
    try:
        modules, greedy_modules = decode(model, ids, 8, 16)
    finally:
        model.decode_step = saved
    assert greedy == greedy_modules
    assert torch.equal(ours.argmax(-1), modules.argmax(-1))
    assert float((ours - modules).abs().max()) <= STEP_REL * float(modules.abs().max())


def test_smollm2_q4_k_m_runs_on_the_step(quantized, load):  # noqa: F811
    load("int4")  # the session's thread settings (one thread)
    path = quantized("Q4_K_M")
    with GGUFFile(path) as f:
        assert {"Q5_0", "Q8_0"} <= {t.qtype.name for t in f.tensors.values()}
    check_step_equals_modules(path, {"Int4Linear", "Int8GroupLinear"})


def test_qwen2_k_quants_with_mixed_fused_parts_and_a_bias_run_on_the_step(qwen2_q4_k_m, load):
    load("int4")
    with GGUFFile(qwen2_q4_k_m) as f:
        types = {t.name: t.qtype.name for t in f.tensors.values()}
    assert {"Q4_K", "Q6_K"} <= set(types.values()) and types["token_embd.weight"] == "Q6_K"
    check_step_equals_modules(qwen2_q4_k_m, {"Int4Linear", "Int8BlockLinear", "RowConcat"})
