"""A Llama GGUF other than the bundled SmolLM2 loads and runs like transformers runs it.

Each variant is a tiny random Llama written here with ``gguf.GGUFWriter`` the
way llama.cpp's converter lays one out, with what SmolLM2 does not have: an
untied ``output.weight``, rope base 10000, head_dim 16, a SentencePiece
vocabulary (``tokenizer.ggml.model == "llama"``) trained here, and either
grouped-query attention or one K/V head per query head. The attention and
feed-forward weights are Q4_1 in one variant and Q8_0 in the other.
"""

from __future__ import annotations

from dataclasses import dataclass

import gguf
import numpy as np
import pytest
import torch
from gguf import GGMLQuantizationType as Q

from core.errors import ConfigError
from rag.generate.base import GenerationConfig
from rag.model import Decoder, load_gguf
from rag.model.generation import DecodeStats
from rag.model.gguf_file import GGUFFile

spm = pytest.importorskip("sentencepiece")
from tests.rag.model.spm_vocab import token_type, train_spm  # noqa: E402 (needs sentencepiece)

TEXTS = [
    "Hello world!",
    "The river flows from the mountains to the sea.",
    "def f(x):\n    return x ** 2",
    "  two leading spaces and 12345",
    "naïve café 日本語 🙂",
]
# Our fp32 logits against transformers', absolute, on logits of standard deviation ~3 (|max| ~12);
# measured <= 7e-6 on sequences of 12, 85 and 256 tokens, fused kernels or torch operators.
REFERENCE_ATOL = 1e-4
# Cached token-by-token against one uncached pass, absolute; measured <= 6e-6 in every mode.
CACHE_ATOL = 1e-4
# The same in the quantized modes, as the relative L2 error of the logits: measured 1e-7, and 6e-4 once.
CACHE_QUANT_REL = 1e-2
# Quantized modes against our own fp32 model of the same file, by (mode, type of the layer weights):
# the relative L2 error of the logits, and the fraction of positions whose argmax agrees (random
# logits have close runners-up, so a small error flips some). Measured:
#   int8 (int8 rows with a scale each, re-quantized from the file)   rel 0.011-0.019, top-1 >= 0.92
#   int4 on Q4_1 layers (the file's groups as they are)               rel 0.013 in the kernels (int8
#       activations), 0 in the BLAS path of long inputs, top-1 1.0
#   int4 on Q8_0 layers (re-quantized to 4-bit groups)                rel 0.11-0.14, top-1 >= 0.79
# 4-bit groups of Gaussian weights are the worst case for that last one; on SmolLM2's trained
# weights test_model.py bounds the perplexity instead.
QUANT_REL = {
    ("int8", Q.Q4_1): 0.03,
    ("int8", Q.Q8_0): 0.03,
    ("int4", Q.Q4_1): 0.03,
    ("int4", Q.Q8_0): 0.2,
}
QUANT_TOP1 = {
    ("int8", Q.Q4_1): 0.8,
    ("int8", Q.Q8_0): 0.8,
    ("int4", Q.Q4_1): 0.9,
    ("int4", Q.Q8_0): 0.65,
}


@dataclass(frozen=True)
class Variant:
    name: str
    n_heads: int
    n_kv_heads: int
    layer_type: Q  # attention and feed-forward weights
    embd_type: Q  # token_embd.weight
    output_type: Q  # output.weight
    chat_template: str | None
    n_layers: int = 2
    dim: int = 64
    ffn_dim: int = 160
    context: int = 256
    rope_base: float = 10000.0
    eps: float = 1e-5


VARIANTS = [
    Variant(
        "gqa-q4_1",
        n_heads=4,
        n_kv_heads=2,
        layer_type=Q.Q4_1,
        embd_type=Q.Q8_0,
        output_type=Q.Q8_0,
        chat_template="{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}",
    ),
    Variant(
        "mha-q8_0", n_heads=4, n_kv_heads=4, layer_type=Q.Q8_0, embd_type=Q.F16, output_type=Q.F32, chat_template=None
    ),
]


def _tensor(writer, stored: dict, name: str, w: np.ndarray, qtype: Q) -> None:
    """Write float32 ``w`` (numpy order: out, in) as ``qtype``; keep what the file holds, dequantized, in ``stored``.

    ``quantize`` returns uint8 (out, bytes per row) for block types; the writer
    turns that back into the (out, in) shape and stores GGUF's reversed dims.
    """
    data = gguf.quants.quantize(w, qtype)
    writer.add_tensor(name, data, raw_dtype=qtype)
    stored[name] = gguf.quants.dequantize(data, qtype).reshape(w.shape).astype(np.float32)


def _write(path, v: Variant, sp) -> dict[str, np.ndarray]:
    """Write the variant's GGUF: llama.cpp's keys and tensor names, seeded random weights.

    Weights are scaled so that activations keep unit size and logits have a
    standard deviation of ~3. The output rows of bos and eos are zero, so
    their logit is 0 against a maximum of ~+8 and greedy decoding never ends early.
    Returns every tensor as the file holds it, dequantized to float32.
    """
    rng = np.random.default_rng(1234)
    vocab, hd = sp.GetPieceSize(), v.dim // v.n_heads
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name(f"tiny-{v.name}")
    writer.add_context_length(v.context)
    writer.add_embedding_length(v.dim)
    writer.add_block_count(v.n_layers)
    writer.add_feed_forward_length(v.ffn_dim)
    writer.add_head_count(v.n_heads)
    writer.add_head_count_kv(v.n_kv_heads)
    writer.add_rope_freq_base(v.rope_base)
    writer.add_layer_norm_rms_eps(v.eps)
    writer.add_rope_dimension_count(hd)
    writer.add_vocab_size(vocab)
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list([sp.IdToPiece(i) for i in range(vocab)])
    writer.add_token_scores([sp.GetScore(i) for i in range(vocab)])
    writer.add_token_types([token_type(sp, i) for i in range(vocab)])
    writer.add_bos_token_id(sp.bos_id())
    writer.add_eos_token_id(sp.eos_id())
    writer.add_unk_token_id(sp.unk_id())
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    if v.chat_template is not None:
        writer.add_chat_template(v.chat_template)

    def normal(*shape: int, std: float) -> np.ndarray:
        return (rng.standard_normal(shape) * std).astype(np.float32)

    def norm(name: str) -> None:
        w = (1.0 + 0.1 * rng.standard_normal(v.dim)).astype(np.float32)
        writer.add_tensor(name, w)
        stored[name] = w

    stored: dict[str, np.ndarray] = {}
    _tensor(writer, stored, "token_embd.weight", normal(vocab, v.dim, std=1.0), v.embd_type)
    kv = v.n_kv_heads * hd
    for i in range(v.n_layers):
        p = f"blk.{i}."
        norm(p + "attn_norm.weight")
        for name, rows, cols in (
            ("attn_q", v.dim, v.dim),
            ("attn_k", kv, v.dim),
            ("attn_v", kv, v.dim),
            ("attn_output", v.dim, v.dim),
            ("ffn_gate", v.ffn_dim, v.dim),
            ("ffn_up", v.ffn_dim, v.dim),
            ("ffn_down", v.dim, v.ffn_dim),
        ):
            _tensor(writer, stored, f"{p}{name}.weight", normal(rows, cols, std=cols**-0.5), v.layer_type)
        norm(p + "ffn_norm.weight")
    norm("output_norm.weight")
    output = normal(vocab, v.dim, std=3 * v.dim**-0.5)
    output[[sp.bos_id(), sp.eos_id()]] = 0.0
    _tensor(writer, stored, "output.weight", output, v.output_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return stored


@dataclass
class Built:
    variant: Variant
    sp: object  # the SentencePieceProcessor the vocabulary came from
    folder: str
    file: str
    stored: dict[str, np.ndarray]
    models: dict  # quant -> (LlamaModel, GGUFTokenizer)
    sequences: list[list[int]]
    reference: list[torch.Tensor]  # transformers' fp32 logits (T, vocab) of each sequence
    ref_greedy: list[int]  # transformers' greedy continuation of sequences[0]
    hf_tokenizer: object


GREEDY_TOKENS = 40


@pytest.fixture(scope="module")
def sp(tmp_path_factory):
    return train_spm(tmp_path_factory.mktemp("spm"))


@pytest.fixture(scope="module", params=VARIANTS, ids=[v.name for v in VARIANTS])
def built(request, sp, tmp_path_factory) -> Built:
    transformers = pytest.importorskip("transformers")
    v: Variant = request.param
    folder = tmp_path_factory.mktemp(v.name)
    path = folder / f"tiny-{v.name}.gguf"
    stored = _write(path, v, sp)
    models = {q: load_gguf(str(path), q) for q in ("fp32", "int8", "int4")}
    tok = models["fp32"][1]
    rng = np.random.default_rng(7)
    text = tok.encode(" ".join(TEXTS))
    sequences = [
        text[:12],  # <= 16 tokens: the fused kernels
        text,  # longer: plain torch operators and BLAS
        [sp.bos_id(), *rng.integers(3, sp.GetPieceSize(), v.context - 1).tolist()],  # the whole context
    ]
    assert len(text) > 16
    ref = transformers.AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=path.name, dtype=torch.float32)
    ref.eval()
    with torch.inference_mode():
        reference = [ref(torch.tensor([ids])).logits[0] for ids in sequences]
        prompt = torch.tensor([sequences[0]])
        out = ref.generate(
            prompt,
            attention_mask=torch.ones_like(prompt),
            max_new_tokens=GREEDY_TOKENS,
            do_sample=False,
            pad_token_id=sp.eos_id(),
        )
    assert ref.config.tie_word_embeddings is False and ref.config.num_key_value_heads == v.n_kv_heads
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), gguf_file=path.name)
    return Built(
        v,
        sp,
        str(folder),
        path.name,
        stored,
        models,
        sequences,
        reference,
        out[0, prompt.shape[1] :].tolist(),
        hf_tokenizer,
    )


def run(model, ids, cache=None) -> torch.Tensor:
    with torch.inference_mode():
        return model(torch.tensor([ids]), cache)[0]


def test_config_and_tokenizer_come_from_the_metadata(built):
    v = built.variant
    model, tok = built.models["fp32"]
    c = model.config
    assert (c.vocab_size, c.dim, c.n_layers, c.n_heads, c.n_kv_heads, c.ffn_dim, c.max_seq_len) == (
        built.sp.GetPieceSize(),
        v.dim,
        v.n_layers,
        v.n_heads,
        v.n_kv_heads,
        v.ffn_dim,
        v.context,
    )
    assert c.rope_base == v.rope_base and c.head_dim == 16 and c.norm_eps == pytest.approx(v.eps)
    assert c.tied_output is False
    assert (tok.bos_id, tok.eos_id, tok.add_bos) == (built.sp.bos_id(), built.sp.eos_id(), True)
    if v.chat_template is None:
        with pytest.raises(ConfigError, match="chat_template"):
            tok.apply_chat_template([{"role": "user", "content": "hi"}])
    else:
        assert tok.apply_chat_template([{"role": "user", "content": "hi"}]) == "[user] hi\n"
    with GGUFFile(f"{built.folder}/{built.file}") as f:  # our reader dequantizes every tensor like gguf does
        assert set(f.tensors) == set(built.stored)
        for name, expected in built.stored.items():
            np.testing.assert_array_equal(f.dequantize(name), expected, err_msg=name)
    with pytest.raises(ConfigError, match="context"):
        run(model, [1] * (v.context + 1))


def test_fp32_logits_equal_transformers(built):
    model = built.models["fp32"][0]
    for ids, expected in zip(built.sequences, built.reference):
        assert expected.std() > 2  # logits of a useful size, not all near zero
        for fused in (True, False):  # inputs of <= 16 tokens take the fused kernels unless switched off
            model.use_fused = fused
            try:
                ours = run(model, ids)
            finally:
                model.use_fused = True
            torch.testing.assert_close(ours, expected, atol=REFERENCE_ATOL, rtol=0)
            assert torch.equal(ours.argmax(-1), expected.argmax(-1))


@pytest.mark.parametrize("quant", ["int8", "int4"])
def test_quantized_logits_are_close_to_fp32(built, quant):
    model = built.models[quant][0]
    fp32 = built.models["fp32"][0]
    for ids in built.sequences:
        ours, base = run(model, ids), run(fp32, ids)
        rel = ((ours - base).norm() / base.norm()).item()
        agree = (ours.argmax(-1) == base.argmax(-1)).float().mean().item()
        key = (quant, built.variant.layer_type)
        assert rel <= QUANT_REL[key], (key, len(ids), rel)
        assert agree >= QUANT_TOP1[key], (key, len(ids), agree)
    if quant == "int4" and built.variant.layer_type == Q.Q4_1:  # long inputs: the file's own weights and BLAS
        ids = built.sequences[1]
        torch.testing.assert_close(run(model, ids), run(fp32, ids), atol=1e-4, rtol=0)


@pytest.mark.parametrize("quant", ["fp32", "int8", "int4"])
@pytest.mark.parametrize("fused", [True, False])
def test_cached_decoding_equals_uncached(built, quant, fused):
    model = built.models[quant][0]
    ids = built.sequences[1]
    full = run(model, ids[:16])  # one pass, no cache; <= 16 tokens so quantized modes take the same kernels
    model.use_fused = fused
    try:
        cache = model.new_cache(len(ids))
        steps = torch.cat([run(model, ids[:5], cache)] + [run(model, [t], cache) for t in ids[5:16]])
    finally:
        model.use_fused = True
    if quant == "fp32":
        torch.testing.assert_close(steps, full, atol=CACHE_ATOL, rtol=0)
        assert torch.equal(steps.argmax(-1), full.argmax(-1))
        return
    # Quantized modes round activations to int8 per group of 32: float differences of 1e-7 between the
    # attention kernels can move one value across a rounding boundary, a jump of one int8 step.
    rel = float((steps - full).norm() / full.norm())
    assert rel <= CACHE_QUANT_REL, rel
    assert float((steps.argmax(-1) == full.argmax(-1)).float().mean()) >= 0.9


def test_token_ids_equal_transformers_and_sentencepiece(built):
    tok, sp, hf = built.models["fp32"][1], built.sp, built.hf_tokenizer
    for text in TEXTS:
        ids = tok.encode(text)
        assert ids == [sp.bos_id(), *sp.encode(text)], text
        if not text.startswith(" "):
            assert ids == hf(text)["input_ids"], text
        assert tok.decode(ids) == sp.decode(sp.encode(text)), text
    # transformers' Metaspace pre-tokenizer adds no "▁" before text that starts with a space, where
    # sentencepiece (and llama.cpp) does: "  x" is "▁▁▁x" to them, "▁▁x" to transformers.
    assert tok.encode("  x", add_bos=False) == sp.encode("  x")


@pytest.mark.parametrize("quant", ["fp32", "int8", "int4"])
def test_greedy_generation_runs_to_max_tokens(built, quant):
    model, tok = built.models[quant]
    decoder = Decoder(model, tok)
    prompt = built.sequences[0]
    stats = DecodeStats()
    out = list(decoder.tokens(prompt, GenerationConfig(max_tokens=GREEDY_TOKENS), stats))
    assert len(out) == stats.generated_tokens == GREEDY_TOKENS and stats.finish_reason == "length"
    if quant == "fp32":
        assert out == built.ref_greedy  # transformers' greedy continuation, token for token
    stats = DecodeStats()  # streamed text (random tokens include stray UTF-8 bytes; it must not fail on them)
    assert "".join(decoder.stream(prompt, GenerationConfig(max_tokens=GREEDY_TOKENS), stats))
    assert stats.generated_tokens == GREEDY_TOKENS
    # asked for more than the context holds: stops when the cache is full
    stats = DecodeStats()
    out = list(decoder.tokens(prompt, GenerationConfig(max_tokens=2 * built.variant.context), stats))
    assert len(prompt) + len(out) == built.variant.context + 1 and stats.finish_reason == "length"
