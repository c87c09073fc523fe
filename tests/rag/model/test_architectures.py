"""Every architecture the decoder supports loads from GGUF and computes transformers' logits.

Each case is a tiny random-weight model built with transformers' own class
(``LlamaForCausalLM`` with Llama 3 rope scaling, ``MistralForCausalLM``,
``Qwen2ForCausalLM``, ``Qwen3ForCausalLM``, ``Phi3ForCausalLM``,
``Gemma2ForCausalLM``, ``Gemma3ForCausalLM``), written as an F32 GGUF the way llama.cpp's converter
writes one (its tensor names; Q/K rows permuted for llama and mistral only;
Gemma's norm weights stored as 1 + w; Llama 3's rope scaling as a
``rope_freqs`` tensor), loaded by :func:`load_gguf`, and run against the
transformers model on the same token ids, in one pass and cached token by token.
Gemma 3 is also run by llama.cpp on the same file (where llama-cpp-python is
installed) and decoded greedily through :class:`Decoder` past its window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import gguf
import numpy as np
import pytest
import torch

from core.errors import ConfigError
from rag.model import Decoder, GenerationConfig, load_gguf
from rag.model.config import SUPPORTED_ARCHS, LlamaConfig
from rag.model.decode_step import runs_in_step

transformers = pytest.importorskip("transformers")
pytest.importorskip("sentencepiece")
from tests.rag.model.spm_vocab import token_type, train_spm  # noqa: E402 (needs sentencepiece)

# Our fp32 logits against transformers': the largest absolute difference over the largest |logit| (6 to 70
# here). Measured, in one pass and cached, fused kernels or torch operators: <= 6.1e-7 (llama3, mistral, qwen2,
# qwen3, phi3), 9.5e-7 (gemma2, whose soft-capped logits are at most 6), 2.0e-6 (gemma3, 7 layers); absolute
# <= 2.7e-5 (qwen2's logits reach 70).
REFERENCE_REL = 1e-5
# int8 and int4 (weights re-quantized from F32, Gaussian: 4-bit groups' worst case) against transformers, as the
# relative L2 error of the logits, one pass or cached, for 2 layers; the noise of independent layers adds up, so
# the bound grows with sqrt(layers / 2). Measured: int8 0.012-0.024, int4 0.086-0.165; 7 layers (gemma3): int8
# 0.031-0.038, int4 0.29-0.40.
QUANT_REL = {"int8": 0.05, "int4": 0.25}
DIM, HEADS, KV_HEADS, FFN, LAYERS, CONTEXT = 64, 4, 2, 96, 2, 128


@dataclass(frozen=True)
class Case:
    name: str
    arch: str  # general.architecture of the GGUF
    hf_class: str  # transformers' config and model class prefix
    kwargs: dict = field(default_factory=dict)  # extra config arguments
    permute_qk: bool = False  # llama.cpp permutes Q/K rows for NORM-rope architectures (llama, mistral)
    norm_plus_one: bool = False  # Gemma's norms compute x * (1 + w); llama.cpp stores 1 + w
    rope_in_metadata: bool = False  # Llama 3 scaling as llama.rope.scaling.* keys instead of rope_freqs
    layers: int = LAYERS
    hf_config: str = ""  # transformers' config class where it is not f"{hf_class}Config"
    llamacpp_rel: float = 0.0  # bound on our logits against llama.cpp's on the same file; 0: not compared


# Our fp32 logits against llama.cpp's on the same F32 file (its KV cache in F32), relative to the largest |logit|.
# Not compared: mistral (llama.cpp has no "mistral" GGUF architecture; its converter writes Mistral as llama),
# llama3-metadata (llama.cpp aborts the process on rope scaling type "llama3"; its converter writes rope_freqs)
# and phi3 (llama.cpp turns Phi-3's sliding window off). Measured: 2.9e-7 to 5.0e-7 (llama3, qwen2, qwen3).
LLAMACPP_REL = 1e-5
# llama.cpp's GELU reads a float16 table at the float16-rounded input, so Gemma's logits move by a few 1e-4
# (measured 5.3e-4 gemma2, 6.8e-4 gemma3; 2.2e-4 left for gemma3 when transformers' GELU rounds the same way).
LLAMACPP_GELU_REL = 2e-3
# transformers' rope_scaling (4.x's name, which 5.x still reads)
LLAMA3_ROPE = {
    "rope_type": "llama3",
    "factor": 8.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    # short, so that head_dim 16's wavelengths (6 to 19000) fall in all three of Llama 3's bands
    "original_max_position_embeddings": 64,
}
# Gemma 3: sliding layers rotate with base 1e4 unscaled, global ones with 1e5 and linear scaling (factor 8 in the
# 4B+ models); 1e5 rather than the real 1e6 so that positions up to 128 turn every pair by a visible angle
GEMMA3_ROPE = {
    "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 100000.0},
    "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
}
CASES = [
    Case("llama3", "llama", "Llama", {"rope_scaling": LLAMA3_ROPE}, permute_qk=True, llamacpp_rel=LLAMACPP_REL),
    # tied: a plain Llama whose int4 model runs the one-call decoding step, rope scaling included
    Case(
        "llama3-metadata",
        "llama",
        "Llama",
        {"rope_scaling": LLAMA3_ROPE, "tie_word_embeddings": True},
        permute_qk=True,
        rope_in_metadata=True,
    ),
    Case("mistral", "mistral", "Mistral", {"sliding_window": None}, permute_qk=True),
    Case("qwen2", "qwen2", "Qwen2", {"tie_word_embeddings": True}, llamacpp_rel=LLAMACPP_REL),
    Case("qwen3", "qwen3", "Qwen3", {"head_dim": 32}, llamacpp_rel=LLAMACPP_REL),  # 4 heads of 32 on a width of 64
    # a window shorter than the longer sequences; the ids keep transformers' checks within the vocabulary
    Case("phi3", "phi3", "Phi3", {"sliding_window": 8, "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}),
    Case(
        "gemma2",
        "gemma2",
        "Gemma2",
        {
            "head_dim": 32,
            "query_pre_attn_scalar": 32,  # llama.cpp scales by 1/sqrt(head_dim) (all but the 27B)
            "sliding_window": 8,  # shorter than the test sequences, so the window matters
            "attn_logit_softcapping": 2.0,  # small enough to bite on unit-sized scores
            "tie_word_embeddings": True,  # as every Gemma 2; llama.cpp refuses an output.weight for it
            "final_logit_softcapping": 6.0,
            "attn_implementation": "eager",
        },
        norm_plus_one=True,
        llamacpp_rel=LLAMACPP_GELU_REL,
    ),
    Case(
        "gemma3",
        "gemma3",
        "Gemma3",
        {
            "head_dim": 32,
            "query_pre_attn_scalar": 32,  # llama.cpp scales by 1/sqrt(head_dim) (all but the 27B)
            "sliding_window": 8,
            "rope_parameters": GEMMA3_ROPE,
            "attn_implementation": "eager",
        },
        norm_plus_one=True,
        layers=7,  # transformers' and llama.cpp's pattern: layers 0-4 and 6 slide, 5 is global
        hf_config="Gemma3TextConfig",
        llamacpp_rel=LLAMACPP_GELU_REL,
    ),
]
# transformers' name inside a layer -> llama.cpp's (Gemma 2's norms differ below)
LAYER_NAMES = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.qkv_proj": "attn_qkv",
    "self_attn.o_proj": "attn_output",
    "self_attn.q_norm": "attn_q_norm",
    "self_attn.k_norm": "attn_k_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.gate_up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
    "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
    "pre_feedforward_layernorm": "ffn_norm",
    "post_feedforward_layernorm": "post_ffw_norm",
}
GEMMA_NAMES = {**LAYER_NAMES, "post_attention_layernorm": "post_attention_norm"}


def _hf_model(case: Case, vocab: int):
    config = getattr(transformers, case.hf_config or f"{case.hf_class}Config")(
        vocab_size=vocab,
        hidden_size=DIM,
        intermediate_size=FFN,
        num_hidden_layers=case.layers,
        num_attention_heads=HEADS,
        num_key_value_heads=KV_HEADS,
        max_position_embeddings=CONTEXT,
        rms_norm_eps=1e-5,
        **{"tie_word_embeddings": False, **case.kwargs},
    )
    model = getattr(transformers, f"{case.hf_class}ForCausalLM")(config).eval()
    _randomize(model, case)
    return model


def _randomize(model, case: Case) -> None:
    """Weights that keep activations near unit size and logits at a standard deviation of ~3."""
    gen = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if "norm" in name:
                p.copy_(0.1 * noise + (0.0 if case.norm_plus_one else 1.0))
            elif name.endswith(".bias"):
                p.copy_(0.1 * noise)
            elif "embed_tokens" in name and case.norm_plus_one:
                # Gemma multiplies by sqrt(DIM); tied, the rows are the output layer's too, sized as lm_head below
                p.copy_(noise * (3 if model.config.tie_word_embeddings else 1) * DIM**-0.5)
            elif "embed_tokens" in name:
                p.copy_(noise)
            elif "lm_head" in name:
                p.copy_(noise * 3 * DIM**-0.5)
            else:
                p.copy_(noise * p.shape[-1] ** -0.5)


def _permute(w: np.ndarray, n_heads: int) -> np.ndarray:
    """llama.cpp's converter's permutation of Q/K rows (halves -> adjacent pairs), for llama and mistral."""
    return w.reshape(n_heads, 2, w.shape[0] // n_heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _gguf_tensors(model, case: Case) -> dict[str, np.ndarray]:
    """transformers' state dict under llama.cpp's names, laid out as its converter lays it out."""
    state = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items() if "rotary" not in k}
    names = GEMMA_NAMES if case.arch.startswith("gemma") else LAYER_NAMES
    out = {
        "token_embd.weight": state.pop("model.embed_tokens.weight"),
        "output_norm.weight": state.pop("model.norm.weight"),
    }
    head = state.pop("lm_head.weight")
    if not model.config.tie_word_embeddings:
        out["output.weight"] = head
    for key, w in state.items():
        i, part, kind = re.fullmatch(r"model\.layers\.(\d+)\.(.+)\.(weight|bias)", key).groups()
        if case.permute_qk and part in ("self_attn.q_proj", "self_attn.k_proj"):
            w = _permute(w, HEADS if part == "self_attn.q_proj" else KV_HEADS)
        out[f"blk.{i}.{names[part]}.{kind}"] = w
    if case.norm_plus_one:
        out = {k: (w + 1 if "norm" in k else w) for k, w in out.items()}
    return out


def _write(path, case: Case, model, sp) -> None:
    c, vocab = model.config, sp.GetPieceSize()
    writer = gguf.GGUFWriter(str(path), case.arch)
    writer.add_context_length(CONTEXT)
    writer.add_embedding_length(DIM)
    writer.add_block_count(case.layers)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_rope_freq_base(GEMMA3_ROPE["full_attention"]["rope_theta"] if case.arch == "gemma3" else 10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    head_dim = getattr(c, "head_dim", None) or DIM // HEADS
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_rope_dimension_count(head_dim)
    if case.arch in ("gemma2", "gemma3", "phi3"):
        writer.add_sliding_window(c.sliding_window)
    if case.arch == "gemma3":  # as llama.cpp's converter: the global layers' scaling; the local base is implied
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(GEMMA3_ROPE["full_attention"]["factor"])
    if case.arch == "gemma2":
        writer.add_attn_logit_softcapping(c.attn_logit_softcapping)
        writer.add_final_logit_softcapping(c.final_logit_softcapping)
    tensors = _gguf_tensors(model, case)
    if case.name.startswith("llama3"):
        rope = LLAMA3_ROPE
        if case.rope_in_metadata:
            p = f"{case.arch}.rope.scaling."
            writer.add_string(p + "type", "llama3")
            writer.add_float32(p + "factor", rope["factor"])
            writer.add_float32(p + "low_freq_factor", rope["low_freq_factor"])
            writer.add_float32(p + "high_freq_factor", rope["high_freq_factor"])
            writer.add_uint32(p + "original_context_length", rope["original_max_position_embeddings"])
        else:
            tensors["rope_freqs.weight"] = _llama3_rope_freqs(rope, head_dim)
    writer.add_tokenizer_model("llama")
    writer.add_token_list([sp.IdToPiece(i) for i in range(vocab)])
    writer.add_token_scores([sp.GetScore(i) for i in range(vocab)])
    writer.add_token_types([token_type(sp, i) for i in range(vocab)])
    writer.add_bos_token_id(sp.bos_id())
    writer.add_eos_token_id(sp.eos_id())
    for name, w in tensors.items():
        writer.add_tensor(name, np.ascontiguousarray(w))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _llama3_rope_freqs(rope: dict, head_dim: int) -> np.ndarray:
    """What llama.cpp's converter (``LlamaModel.generate_extra_tensors``) writes, computed here independently."""
    freqs = 1.0 / (10000.0 ** (np.arange(0, head_dim, 2, dtype=np.float32) / head_dim))
    old, low, high, factor = (
        rope["original_max_position_embeddings"],
        rope["low_freq_factor"],
        rope["high_freq_factor"],
        rope["factor"],
    )
    out = []
    for freq in freqs:
        wavelen = 2 * np.pi / freq
        if wavelen < old / high:
            out.append(1.0)
        elif wavelen > old / low:
            out.append(factor)
        else:
            smooth = (old / wavelen - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    assert 1.0 in out and factor in out and len(set(out)) > 2  # all three bands
    return np.array(out, dtype=np.float32)


@dataclass
class Built:
    case: Case
    hf: object
    path: str  # the GGUF file
    models: dict  # quant -> LlamaModel
    tokenizer: object
    sequences: list[list[int]]
    reference: list[torch.Tensor]  # transformers' logits (T, vocab) per sequence


@pytest.fixture(scope="module")
def sp(tmp_path_factory):
    return train_spm(tmp_path_factory.mktemp("spm"))


@pytest.fixture(scope="module", params=CASES, ids=[c.name for c in CASES])
def built(request, sp, tmp_path_factory) -> Built:
    case: Case = request.param
    hf = _hf_model(case, sp.GetPieceSize())
    path = tmp_path_factory.mktemp(case.name) / f"tiny-{case.name}.gguf"
    _write(path, case, hf, sp)
    loaded = {q: load_gguf(str(path), q) for q in ("fp32", "int8", "int4")}
    models = {q: model for q, (model, _) in loaded.items()}
    rng = np.random.default_rng(7)
    sequences = [[sp.bos_id(), *rng.integers(3, sp.GetPieceSize(), n - 1).tolist()] for n in (12, 40, CONTEXT)]
    with torch.inference_mode():
        reference = [hf(torch.tensor([ids])).logits[0] for ids in sequences]
    return Built(case, hf, str(path), models, loaded["fp32"][1], sequences, reference)


def _run(model, ids, cache=None) -> torch.Tensor:
    with torch.inference_mode():
        return model(torch.tensor([ids]), cache)[0]


def _assert_matches(ours: torch.Tensor, expected: torch.Tensor) -> None:
    scale = float(expected.abs().max())
    err = float((ours - expected).abs().max())
    assert err <= REFERENCE_REL * scale, (err, scale)
    assert torch.equal(ours.argmax(-1), expected.argmax(-1))


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


def test_fp32_logits_equal_transformers(built):
    model = built.models["fp32"]
    for ids, expected in zip(built.sequences, built.reference):
        assert expected.std() > 1  # logits of a useful size
        for fused in (True, False):  # <= 16 tokens take the fused kernels unless switched off
            model.use_fused = fused
            try:
                _assert_matches(_run(model, ids), expected)
            finally:
                model.use_fused = True


@pytest.mark.parametrize("fused", [True, False])
def test_cached_decoding_equals_transformers(built, fused):
    model, ids, expected = built.models["fp32"], built.sequences[1], built.reference[1]
    model.use_fused = fused
    try:
        cache = model.new_cache(len(ids))
        steps = torch.cat([_run(model, ids[:5], cache)] + [_run(model, [t], cache) for t in ids[5:]])
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
            ours = _run(built.models["fp32"], ids)
            err = float((ours - theirs).abs().max())
            assert err <= built.case.llamacpp_rel * float(theirs.abs().max()), (len(ids), err)
            assert torch.equal(ours.argmax(-1), theirs.argmax(-1))
    finally:
        llm.close()


def test_greedy_generation_equals_transformers(built):
    """The public decoding loop (prefill, steps, prompt-lookup drafts) past the window picks transformers' tokens."""
    model, hf, prompt = built.models["fp32"], built.hf, built.sequences[0][:6]
    stops = set(built.tokenizer.stop_ids)
    ids = list(prompt)
    with torch.inference_mode():
        while len(ids) < len(prompt) + 16:  # 22 positions: well past the window of 8
            token = int(hf(torch.tensor([ids])).logits[0, -1].argmax())
            if token in stops:
                break
            ids.append(token)
    ours = list(Decoder(model, built.tokenizer).tokens(prompt, GenerationConfig(max_tokens=16)))
    assert ours == ids[len(prompt) :]


@pytest.mark.parametrize("quant", ["int8", "int4"])
def test_quantized_modes_run_close_to_fp32(built, quant):
    model, ids = built.models[quant], built.sequences[1]
    cache = model.new_cache(len(ids))  # cached: the one-call step where the model has one
    cached = torch.cat([_run(model, ids[:5], cache)] + [_run(model, [t], cache) for t in ids[5:]])
    for ours, base in (
        (_run(model, built.sequences[0]), built.reference[0]),
        (_run(model, ids), built.reference[1]),
        (cached, built.reference[1]),
    ):
        rel = float((ours - base).norm() / base.norm())
        assert rel <= QUANT_REL[quant] * (built.case.layers / LAYERS) ** 0.5, (quant, len(ours), rel)
    # the one-call int4 step runs Llamas and Qwen 2 (its bias); it lacks the other switches
    assert runs_in_step(model.config) or model.decode_step is None
    if built.case.name in ("llama3-metadata", "qwen2"):
        assert (model.decode_step is not None) == (quant == "int4")


def test_unsupported_architectures_and_rope_scaling_name_themselves():
    meta = {"general.architecture": "falcon", "falcon.block_count": 2}
    with pytest.raises(ConfigError, match="'falcon'.*" + ", ".join(SUPPORTED_ARCHS)):
        LlamaConfig.from_gguf(meta)
    meta = {
        "general.architecture": "llama",
        "llama.embedding_length": 64,
        "llama.block_count": 1,
        "llama.feed_forward_length": 96,
        "llama.attention.head_count": 4,
        "llama.vocab_size": 10,
        "llama.rope.scaling.type": "yarn",
    }
    with pytest.raises(ConfigError, match="'yarn'.*linear, llama3"):
        LlamaConfig.from_gguf(meta)
    with pytest.raises(ConfigError, match="LongRoPE"):
        LlamaConfig.from_gguf({**meta, "llama.rope.scaling.type": "none"}, {"rope_factors_long.weight"})
    meta["llama.rope.scaling.type"] = "linear"
    meta["llama.rope.scaling.factor"] = 4.0
    assert LlamaConfig.from_gguf(meta).rope_linear == 4.0
