"""Every architecture's configuration comes from its GGUF metadata as transformers' config and llama.cpp read it."""

from __future__ import annotations

import pytest

from rag.model.config import LlamaConfig
from tests.rag.model.architectures.tiny_models import DIM, HEADS, KV_HEADS


def test_config_comes_from_the_metadata(built):
    c, case, hf = built.models["fp32"].config, built.case, built.hf.config
    assert c.arch == case.arch and c.n_layers == case.layers and c.n_kv_heads == KV_HEADS
    assert c.head_dim == (getattr(hf, "head_dim", None) or DIM // HEADS)
    assert c.tied_output == bool(hf.tie_word_embeddings)
    assert c.qkv_bias == (case.arch == "qwen2") and c.qk_norm == (case.arch in ("qwen3", "gemma3"))
    assert c.rope_neox == (not case.permute_qk)
    assert (c.attn_softcap, c.final_softcap) == ((2.0, 6.0) if case.arch == "gemma2" else (0.0, 0.0))
    assert c.sliding_window == (8 if case.arch in ("gemma2", "gemma3", "phi3") else 0)
    layer_types = getattr(hf, "layer_types", None)
    if case.arch.startswith("gemma"):  # transformers' own pattern
        assert [c.sliding(i) for i in range(c.n_layers)] == [t == "sliding_attention" for t in layer_types]
    assert [c.sliding(i) for i in range(c.n_layers)] == {
        "gemma2": [True, False],
        "gemma3": [True] * 5 + [False, True],
        "phi3": [True, True],
    }.get(case.arch, [False] * c.n_layers)
    expected_rope = (100000.0, 8.0, 10000.0) if case.arch == "gemma3" else (10000.0, 1.0, 0.0)
    assert (c.rope_base, c.rope_linear, c.rope_local_base) == expected_rope


def test_the_27b_gemmas_scale_queries_as_llama_cpp_does():
    """llama.cpp scales the 27B's queries by 1/sqrt(dim / n_heads) (its query_pre_attn_scalar), others' by head_dim."""
    for arch, layers in (("gemma2", 46), ("gemma3", 62)):
        p = f"{arch}."
        meta = {
            "general.architecture": arch,
            p + "embedding_length": 4608,
            p + "feed_forward_length": 36864,
            p + "attention.head_count": 32,
            p + "attention.head_count_kv": 16,
            p + "attention.key_length": 128,
            p + "attention.value_length": 128,
            p + "vocab_size": 10,
        }
        assert LlamaConfig.from_gguf({**meta, p + "block_count": layers}).attn_scale == pytest.approx(144**-0.5)
        assert LlamaConfig.from_gguf({**meta, p + "block_count": 26}).attn_scale == pytest.approx(128**-0.5)
