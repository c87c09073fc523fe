"""Every architecture's fp32 logits equal transformers' (one pass and cached, fused or not) and llama.cpp's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.rag.model.architectures.tiny_models import CONTEXT, run

# Our fp32 logits against transformers': the largest absolute difference over the largest |logit| (6 to 70
# here). Measured, in one pass and cached, fused kernels or torch operators: <= 6.1e-7 (llama3, mistral, qwen2,
# qwen3, phi3), 9.5e-7 (gemma2, whose soft-capped logits are at most 6), 2.0e-6 (gemma3, 7 layers); absolute
# <= 2.7e-5 (qwen2's logits reach 70).
REFERENCE_REL = 1e-5


def _assert_matches(ours: torch.Tensor, expected: torch.Tensor) -> None:
    scale = float(expected.abs().max())
    err = float((ours - expected).abs().max())
    assert err <= REFERENCE_REL * scale, (err, scale)
    assert torch.equal(ours.argmax(-1), expected.argmax(-1))


def test_fp32_logits_equal_transformers(built):
    model = built.models["fp32"]
    for ids, expected in zip(built.sequences, built.reference):
        assert expected.std() > 1  # logits of a useful size
        for fused in (True, False):  # <= 16 tokens take the fused kernels unless switched off
            model.use_fused = fused
            try:
                _assert_matches(run(model, ids), expected)
            finally:
                model.use_fused = True


@pytest.mark.parametrize("fused", [True, False])
def test_cached_decoding_equals_transformers(built, fused):
    model, ids, expected = built.models["fp32"], built.sequences[1], built.reference[1]
    model.use_fused = fused
    try:
        cache = model.new_cache(len(ids))
        steps = torch.cat([run(model, ids[:5], cache)] + [run(model, [t], cache) for t in ids[5:]])
    finally:
        model.use_fused = True
    _assert_matches(steps, expected)


def test_fp32_logits_equal_llama_cpp(built):
    """llama.cpp's own forward pass on the same file: its reading of the metadata, not only transformers'."""
    if not built.case.llamacpp_rel:
        pytest.skip(f"llama.cpp does not run {built.case.name} as transformers does (see LLAMACPP_REL)")
    llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (the llamacpp extra)")
    f32 = 0  # GGML_TYPE_F32: keys and values unrounded
    llm = llama_cpp.Llama(
        built.path,
        n_ctx=CONTEXT,
        n_batch=CONTEXT,
        n_ubatch=CONTEXT,
        logits_all=True,
        n_threads=2,
        type_k=f32,
        type_v=f32,
        swa_full=True,
        flash_attn=False,
        verbose=False,
    )
    try:
        for ids in built.sequences:
            llm.reset()
            llm.eval(ids)
            theirs = torch.tensor(np.array(llm.scores[: len(ids)], dtype=np.float32))
            ours = run(built.models["fp32"], ids)
            err = float((ours - theirs).abs().max())
            assert err <= built.case.llamacpp_rel * float(theirs.abs().max()), (len(ids), err)
            assert torch.equal(ours.argmax(-1), theirs.argmax(-1))
    finally:
        llm.close()
