"""Tiny random-weight transformers models of every supported architecture, written as llama.cpp writes a GGUF.

Each :class:`Case` is built with transformers' own class (``LlamaForCausalLM``
with Llama 3 rope scaling, ``MistralForCausalLM``, ``Qwen2ForCausalLM``,
``Qwen3ForCausalLM``, ``Phi3ForCausalLM``, ``Gemma2ForCausalLM``,
``Gemma3ForCausalLM``) and written as an F32 GGUF the way llama.cpp's converter
writes one: its tensor names; Q/K rows permuted for llama and mistral only;
Gemma's norm weights stored as 1 + w; Llama 3's rope scaling as a
``rope_freqs`` tensor (or as metadata keys, for one case).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import gguf
import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")
from tests.rag.model.spm_vocab import token_type  # noqa: E402 (needs sentencepiece)

DIM, HEADS, KV_HEADS, FFN, LAYERS, CONTEXT = 64, 4, 2, 96, 2, 128
# Our fp32 logits against llama.cpp's on the same F32 file (its KV cache in F32), relative to the largest |logit|.
# Not compared: mistral (llama.cpp has no "mistral" GGUF architecture; its converter writes Mistral as llama),
# llama3-metadata (llama.cpp aborts the process on rope scaling type "llama3"; its converter writes rope_freqs)
# and phi3 (llama.cpp turns Phi-3's sliding window off). Measured: 2.9e-7 to 5.0e-7 (llama3, qwen2, qwen3).
LLAMACPP_REL = 1e-5
# llama.cpp's GELU reads a float16 table at the float16-rounded input, so Gemma's logits move by a few 1e-4
# (measured 5.3e-4 gemma2, 6.8e-4 gemma3; 2.2e-4 left for gemma3 when transformers' GELU rounds the same way).
LLAMACPP_GELU_REL = 2e-3


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


def hf_model(case: Case, vocab: int):
    """transformers' model of the case with random weights of a useful size, in eval mode."""
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


def write_gguf(path, case: Case, model, sp) -> None:
    """The transformers model and the SentencePiece vocabulary as an F32 GGUF at ``path``."""
    c, vocab = model.config, sp.GetPieceSize()
    writer = gguf.GGUFWriter(str(path), case.arch)
    head_dim = getattr(c, "head_dim", None) or DIM // HEADS
    _add_shape(writer, case, head_dim)
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
        if case.rope_in_metadata:
            _add_llama3_rope_metadata(writer, case.arch, LLAMA3_ROPE)
        else:
            tensors["rope_freqs.weight"] = _llama3_rope_freqs(LLAMA3_ROPE, head_dim)
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


def _add_shape(writer: gguf.GGUFWriter, case: Case, head_dim: int) -> None:
    writer.add_context_length(CONTEXT)
    writer.add_embedding_length(DIM)
    writer.add_block_count(case.layers)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_rope_freq_base(GEMMA3_ROPE["full_attention"]["rope_theta"] if case.arch == "gemma3" else 10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_rope_dimension_count(head_dim)


def _add_llama3_rope_metadata(writer: gguf.GGUFWriter, arch: str, rope: dict) -> None:
    p = f"{arch}.rope.scaling."
    writer.add_string(p + "type", "llama3")
    writer.add_float32(p + "factor", rope["factor"])
    writer.add_float32(p + "low_freq_factor", rope["low_freq_factor"])
    writer.add_float32(p + "high_freq_factor", rope["high_freq_factor"])
    writer.add_uint32(p + "original_context_length", rope["original_max_position_embeddings"])


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
    """One case built, written, loaded in every mode, and run by transformers on three sequences."""

    case: Case
    hf: object
    path: str  # the GGUF file
    models: dict  # quant -> LlamaModel
    tokenizer: object
    sequences: list[list[int]]
    reference: list[torch.Tensor]  # transformers' logits (T, vocab) per sequence


def run(model, ids, cache=None) -> torch.Tensor:
    """Our model's logits (T, vocab) for one sequence, through ``cache`` where given."""
    with torch.inference_mode():
        return model(torch.tensor([ids]), cache)[0]
