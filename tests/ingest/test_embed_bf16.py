"""The bf16 kind: which CPUs pick it, and its fused oneDNN layers against float32 references."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from ingest.embed import AUTO_KIND, KINDS, MODEL_NAME, kind_of, model_name_of, native_bf16, resolve_kind
from ingest.embed.bf16 import FusedIntermediate, FusedLinear, FusedOutput, fused_ops_available
from ingest.embed.kinds import ISA_ENV

needs_fused = pytest.mark.skipif(not fused_ops_available(), reason="this torch build has no oneDNN fused linear")
BF16_NATIVE = torch.cpu._is_avx512_bf16_supported()
TEXTS = [
    "Graph-based nearest neighbour search builds a navigable small-world graph over the vectors.",
    "Vitamin D supplementation did not reduce the incidence of fractures in older adults. " * 12,
    "The mitochondria is the powerhouse of the cell.",
    "a short query",
    "",
]


def test_auto_picks_bf16_only_where_the_cpu_multiplies_bf16_natively(monkeypatch):
    monkeypatch.delenv(ISA_ENV, raising=False)
    assert AUTO_KIND == {"amx": "bf16", "avx512_bf16": "bf16", "none": "fp32"}
    assert native_bf16() in AUTO_KIND
    assert resolve_kind("auto") == AUTO_KIND[native_bf16()]
    assert native_bf16() == "none" or BF16_NATIVE


def test_an_avx2_cap_on_onednn_means_fp32(monkeypatch):
    monkeypatch.setenv(ISA_ENV, "AVX2")  # what an AVX2-only CPU looks like to oneDNN
    assert native_bf16() == "none"
    assert resolve_kind("auto") == "fp32"
    assert resolve_kind("bf16") == "bf16"  # asked for by name, it is still given


@pytest.mark.skipif(not BF16_NATIVE, reason="the CPU has no AVX512_BF16")
def test_a_cap_that_keeps_avx512_bf16_keeps_bf16(monkeypatch):
    monkeypatch.setenv(ISA_ENV, "AVX512_CORE_BF16")
    assert native_bf16() == "avx512_bf16"  # AMX, if present, is capped away
    assert resolve_kind("auto") == "bf16"


def test_each_kind_has_its_own_model_name_and_maps_back():
    assert model_name_of("fp32") == MODEL_NAME  # collections written before kinds existed keep working
    assert model_name_of("bf16") == f"{MODEL_NAME}@bf16"
    assert len({model_name_of(k) for k in KINDS}) == len(KINDS)
    assert all(kind_of(model_name_of(k)) == k for k in KINDS)


def _linear(n_in: int, n_out: int, seed: int) -> nn.Linear:
    gen = torch.Generator().manual_seed(seed)
    layer = nn.Linear(n_in, n_out)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(n_out, n_in, generator=gen) * n_in**-0.5)
        layer.bias.copy_(torch.randn(n_out, generator=gen) * 0.1)
    return layer.to(torch.bfloat16)


def _close_to_fp32(got: torch.Tensor, want: torch.Tensor) -> None:
    """``got`` (bf16) equals the float32 reference up to rounding the output to bf16 (8 bits of mantissa)."""
    err = (got.float() - want).abs()
    assert got.dtype == torch.bfloat16 and got.shape == want.shape
    assert float(err.max()) <= 2**-7 * float(want.abs().max()) + 1e-3, float(err.max())


@needs_fused
@pytest.mark.parametrize("shape", [(1, 1), (3, 17), (32, 256)])  # (B, T): one token, odd sizes, a full batch
def test_fused_layers_equal_their_float32_arithmetic(shape):
    gen = torch.Generator().manual_seed(1)
    up, down = _linear(384, 1536, 2), _linear(1536, 384, 3)
    norm = nn.LayerNorm(384).to(torch.bfloat16)
    x = torch.randn(*shape, 384, generator=gen).to(torch.bfloat16)
    residual = torch.randn(*shape, 384, generator=gen).to(torch.bfloat16)
    with torch.inference_mode():
        hidden = FusedIntermediate(up)(x)
        _close_to_fp32(FusedLinear(up)(x), nn.functional.linear(x.float(), up.weight.float(), up.bias.float()))
        _close_to_fp32(hidden, nn.functional.gelu(nn.functional.linear(x.float(), up.weight.float(), up.bias.float())))
        summed = nn.functional.linear(hidden.float(), down.weight.float(), down.bias.float()) + residual.float()
        want = nn.functional.layer_norm(summed, (384,), norm.weight.float(), norm.bias.float(), norm.eps)
        _close_to_fp32(FusedOutput(down, norm)(hidden, residual), want)


@pytest.fixture(scope="module")
def models():
    """An fp32 embedder, and MiniLM in fp32, in bf16 as ``model.to`` leaves it, and as the bf16 kind (fused)."""
    from ingest.embed import Embedder

    fp32, fused = Embedder(8, quant="fp32"), Embedder(8, quant="bf16")
    plain = copy.deepcopy(fp32.model).to(torch.bfloat16)
    return fp32, {"fp32": fp32.model, "plain": plain, "fused": fused.model}


def _vectors(embedder, model) -> np.ndarray:
    """Unit vectors of ``TEXTS`` through ``model`` (a BertEncoder), on the embedder's own path."""
    return embedder._encode(model, embedder._tokenize(embedder._tokenizer, TEXTS)[0])


@pytest.mark.slow
@needs_fused
def test_fused_bf16_vectors_stay_within_tolerance_of_fp32(models):
    embedder, by_kind = models
    ref, fused, plain = (_vectors(embedder, by_kind[k]) for k in ("fp32", "fused", "plain"))
    assert fused.dtype == np.float32 and fused.shape == ref.shape
    np.testing.assert_allclose(np.linalg.norm(fused, axis=1), 1.0, atol=1e-5)
    assert (fused * ref).sum(1).min() > 0.999  # the bf16 gate (0.9999 measured on SciFact abstracts)
    # closer to the unfused bf16 recipe than either is to fp32: collections written as @bf16 stay consistent
    assert (fused * plain).sum(1).min() > max(0.9999, (plain * ref).sum(1).min())


@pytest.mark.slow
@needs_fused
def test_fusing_keeps_parameter_names_and_tensors(models):
    _, by_kind = models
    before = dict(by_kind["plain"].named_parameters())
    after = dict(by_kind["fused"].named_parameters())
    assert before.keys() == after.keys()  # e.g. encoder.layer.0.intermediate.dense.weight
    words = "embeddings.word_embeddings.weight"  # float32 on the file's map, rows rounded at lookup (bert.py)
    assert all(after[n].dtype == torch.bfloat16 for n in after if n != words) and after[words].dtype == torch.float32
    assert not any(isinstance(m, nn.Linear) for m in by_kind["fused"].encoder.modules())
