"""SentencePiece GGUF vocabularies (``tokenizer.ggml.model == "llama"``) on the mixed text, per model family.

A SentencePiece BPE model with byte fallback is trained here on multilingual
prose and code (characters it leaves out, and every emoji, go through
``<0xXX>`` pieces), written as llama.cpp's converter writes it, and our
tokenizer must give the ids and text of two references: sentencepiece itself,
and the ``tokenizers`` pipeline that transformers builds from a SentencePiece
model (its merges from ``generate_merges``, its Llama normalizer and decoder).
Three flavours, as three model families store them:

- Llama 2 / Mistral: a space prefix, control tokens ``<s>``/``</s>`` in the text;
- Gemma: no space prefix, runs of spaces and newlines as user-defined tokens
  (llama.cpp's converter writes them with real spaces), ``<start_of_turn>``
  and ``<end_of_turn>`` as control tokens that end a turn;
- Phi-3: control tokens ``<|user|>``, ``<|assistant|>``, ``<|end|>``... appended,
  which swallow the whitespace after them (their tokenizer.json says
  ``rstrip``; llama.cpp does the same by model name).
"""

from __future__ import annotations

import gguf
import numpy as np
import pytest
from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers

from rag.model.gguf_file import GGUFFile
from rag.model.tokenizer import GGUFTokenizer, IncrementalDecoder
from tests.rag.model.test_tokenizers_bpe import MIXED, TRAIN

spm = pytest.importorskip("sentencepiece")
generate_merges = pytest.importorskip("transformers.tokenization_utils_base").generate_merges
from tests.rag.model.spm_vocab import spm_metadata, token_type  # noqa: E402 (needs sentencepiece)

SPACE = "\u2581"
GEMMA_USER = ["\n\n", SPACE * 2, SPACE * 4]  # whitespace runs Gemma lists as user-defined pieces
GEMMA_TURNS = ["<start_of_turn>", "<end_of_turn>"]
PHI3_ADDED = ["<|endoftext|>", "<|assistant|>", "<|system|>", "<|end|>", "<|user|>"]  # Phi-3's order
CHAT_TEXTS = [
    "<s>hi </s></s>",
    "a</s>b",
    "<start_of_turn>user\nПривет  мир\n\n🙂<end_of_turn>\n<start_of_turn>model\n",
    "<|user|>\n  Write code<|end|>\n<|assistant|>\nok<|end|>\n<|endoftext|> x",
]


def train(directory, name: str, add_dummy_prefix: bool = True, user_defined: list[str] | None = None):
    prefix = str(directory / name)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(TRAIN * 3),
        model_prefix=prefix,
        model_type="bpe",
        vocab_size=1000,
        byte_fallback=True,
        character_coverage=0.995,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        add_dummy_prefix=add_dummy_prefix,
        allow_whitespace_only_pieces=True,
        split_digits=True,
        user_defined_symbols=user_defined or [],
        num_threads=1,
        minloglevel=2,
    )
    return spm.SentencePieceProcessor(model_file=prefix + ".model")


def gguf_metadata(sp, gemma: bool = False, added: list[str] = (), name: str = "tiny") -> dict:
    """``_set_vocab_sentencepiece``: user-defined pieces listed as added tokens get real spaces and type 4,
    special-looking added tokens type 3; tokens added past the model's pieces are appended."""
    meta = spm_metadata(sp)
    tokens, types = list(meta["tokenizer.ggml.tokens"]), meta["tokenizer.ggml.token_type"].tolist()
    scores = meta["tokenizer.ggml.scores"].tolist()
    for i, piece in enumerate(tokens):
        if sp.IsControl(i) or sp.IsUnknown(i) or sp.IsByte(i):
            continue
        if gemma and piece in GEMMA_TURNS:
            types[i] = 3
        elif gemma and piece in GEMMA_USER:
            tokens[i], types[i] = piece.replace(SPACE, " "), 4
    for text in added:
        tokens.append(text)
        types.append(3)
        scores.append(-1000.0)
    meta.update(
        {
            "general.name": name,
            "tokenizer.ggml.tokens": tokens,
            "tokenizer.ggml.token_type": np.array(types, dtype=np.int32),
            "tokenizer.ggml.scores": np.array(scores, dtype=np.float32),
            "tokenizer.ggml.add_space_prefix": not gemma,
        }
    )
    return meta


def transformers_pipeline(sp, gemma: bool = False, added: list[str] = (), rstrip: bool = False) -> Tokenizer:
    """What transformers' LlamaConverter (legacy) builds from the SentencePiece model, as a ``tokenizers`` object.

    For Gemma the whitespace runs are added tokens spelled with real spaces, as llama.cpp's GGUF has them.
    """
    pieces = [sp.id_to_piece(i) for i in range(sp.GetPieceSize())]
    user = set(GEMMA_USER) if gemma else set()
    vocab = {(p.replace(SPACE, " ") if p in user else p): i for i, p in enumerate(pieces)}
    scores = {p: sp.GetScore(i) for p, i in vocab.items()}
    specials = [pieces[i] for i in range(len(pieces)) if sp.IsControl(i) or sp.IsUnknown(i)]
    turns = GEMMA_TURNS if gemma else []
    skip = {*specials, *turns, *(vocab_key.replace(SPACE, " ") for vocab_key in user)}
    model = models.BPE(
        vocab, generate_merges(vocab, scores, skip), unk_token="<unk>", fuse_unk=True, byte_fallback=True
    )
    tok = Tokenizer(model)
    escape = [normalizers.Replace(" ", SPACE)]
    tok.normalizer = normalizers.Sequence(escape if gemma else [normalizers.Prepend(SPACE), *escape])
    steps = [decoders.Replace(SPACE, " "), decoders.ByteFallback(), decoders.Fuse()]
    tok.decoder = decoders.Sequence(steps if gemma else [*steps, decoders.Strip(" ", 1, 0)])
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in [*specials, *turns]])
    tok.add_tokens([AddedToken(t.replace(SPACE, " "), normalized=False, special=False) for t in sorted(user)])
    keep = {"<|endoftext|>"}  # Phi-3's tokenizer.json: every added token rstrips but this one
    tok.add_special_tokens(
        [AddedToken(t, special=True, normalized=False, rstrip=rstrip and t not in keep) for t in added]
    )
    return tok


@pytest.fixture(scope="module")
def llama2(tmp_path_factory):
    sp = train(tmp_path_factory.mktemp("spm"), "llama2")
    return sp, GGUFTokenizer(gguf_metadata(sp)), transformers_pipeline(sp)


@pytest.fixture(scope="module")
def gemma(tmp_path_factory):
    sp = train(tmp_path_factory.mktemp("spm"), "gemma", add_dummy_prefix=False, user_defined=GEMMA_USER + GEMMA_TURNS)
    return sp, GGUFTokenizer(gguf_metadata(sp, gemma=True)), transformers_pipeline(sp, gemma=True)


def test_llama2_ids_equal_sentencepiece_and_tokenizers(llama2):
    sp, ours, ref = llama2
    for text in MIXED:
        ids = ours.encode(text, add_bos=False)
        assert ids == sp.encode(text) == ref.encode(text).ids, repr(text)
    byte_pieces = {i for i in range(sp.GetPieceSize()) if sp.IsByte(i)}
    assert byte_pieces & set(ours.encode(MIXED[8])), "emoji must go through byte fallback"
    assert len(ours.encode("Москва столица", add_bos=False)) < len("Москва столица"), "Cyrillic must merge"


def test_llama2_decode_and_stream(llama2):
    sp, ours, ref = llama2
    for text in MIXED:
        ids = ours.encode(text)
        assert ours.decode(ids) == sp.decode(ids) == ref.decode(ids, skip_special_tokens=True) == text, repr(text)
        stream = IncrementalDecoder(ours)
        pieces = [stream.push(i) for i in ids]
        assert "".join(pieces) == text and all("\ufffd" not in p for p in pieces)


def test_llama2_control_tokens_in_the_text(llama2):
    sp, ours, ref = llama2
    for text in CHAT_TEXTS[:2]:
        assert ours.encode(text, add_bos=False) == ref.encode(text).ids, repr(text)
    assert ours.encode("a</s>b", add_bos=False) == [*sp.encode("a"), sp.eos_id(), *sp.encode("b")]


def test_gemma_ids_equal_sentencepiece_and_tokenizers(gemma):
    sp, ours, ref = gemma
    for text in [*MIXED, "x  y    z\n\nw   v"]:
        ids = ours.encode(text, add_bos=False)
        assert ids == sp.encode(text) == ref.encode(text).ids, repr(text)
        assert ours.decode(ids) == sp.decode(ids) == text, repr(text)
    two_spaces, blank_line = sp.piece_to_id(SPACE * 2), sp.piece_to_id("\n\n")
    assert {two_spaces, blank_line} <= set(ours.encode("a  b\n\nc", add_bos=False))
    assert ours.token_bytes[two_spaces] == b"  "


def test_gemma_turn_tokens_are_control_and_end_a_reply(gemma):
    sp, ours, ref = gemma
    text = CHAT_TEXTS[2]
    assert ours.encode(text, add_bos=False) == ref.encode(text).ids
    end = sp.piece_to_id("<end_of_turn>")
    assert ours.is_control(end) and end in ours.stop_ids and sp.eos_id() in ours.stop_ids
    assert ours.decode(ours.encode(text)) == "user\nПривет  мир\n\n🙂\nmodel\n"


def test_phi3_special_tokens_swallow_the_whitespace_after_them(tmp_path):
    sp = train(tmp_path, "phi3")
    ours = GGUFTokenizer(gguf_metadata(sp, added=PHI3_ADDED, name="Phi-3-mini-4k-instruct"))
    ref = transformers_pipeline(sp, added=PHI3_ADDED, rstrip=True)
    text = CHAT_TEXTS[3]
    assert ours.encode(text, add_bos=False) == ref.encode(text).ids
    user, end = (sp.GetPieceSize() + PHI3_ADDED.index(t) for t in ("<|user|>", "<|end|>"))  # appended
    assert ours.encode("<|user|>\n  hi", add_bos=False) == [user, *sp.encode("hi")]
    assert end in ours.stop_ids
    plain = GGUFTokenizer(gguf_metadata(sp, added=PHI3_ADDED, name="some-llama"))
    assert plain.encode("<|user|>\n  hi", add_bos=False) != ours.encode("<|user|>\n  hi", add_bos=False)


def write_gguf(meta: dict, path) -> None:
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name(meta["general.name"])
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(meta["tokenizer.ggml.tokens"])
    writer.add_token_scores(meta["tokenizer.ggml.scores"].tolist())
    writer.add_token_types(meta["tokenizer.ggml.token_type"].tolist())
    writer.add_bos_token_id(meta["tokenizer.ggml.bos_token_id"])
    writer.add_eos_token_id(meta["tokenizer.ggml.eos_token_id"])
    writer.add_unk_token_id(meta["tokenizer.ggml.unknown_token_id"])
    writer.add_add_bos_token(True)
    writer.add_add_space_prefix(meta["tokenizer.ggml.add_space_prefix"])
    writer.add_tensor("token_embd.weight", np.zeros((len(meta["tokenizer.ggml.tokens"]), 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@pytest.mark.parametrize("flavour", ["llama2", "gemma", "phi3"])
def test_ids_equal_llama_cpp(flavour, tmp_path):
    """The third reference: llama.cpp's own tokenizer on the same GGUF file (read back by our reader too)."""
    llama_cpp = pytest.importorskip("llama_cpp", reason="llama.cpp's tokenizer comes with the llamacpp extra")
    gemma = flavour == "gemma"
    user_defined = GEMMA_USER + GEMMA_TURNS if gemma else None
    sp = train(tmp_path, flavour, add_dummy_prefix=not gemma, user_defined=user_defined)
    added, name = (PHI3_ADDED, "Phi-3-mini-4k-instruct") if flavour == "phi3" else ((), flavour)
    write_gguf(gguf_metadata(sp, gemma=gemma, added=added, name=name), tmp_path / "v.gguf")
    with GGUFFile(tmp_path / "v.gguf") as f:
        ours = GGUFTokenizer(f.metadata)
    llm = llama_cpp.Llama(str(tmp_path / "v.gguf"), vocab_only=True, verbose=False)
    for text in MIXED + CHAT_TEXTS:
        assert ours.encode(text) == llm.tokenize(text.encode(), add_bos=True, special=True), repr(text)


def test_token_types_written_like_the_converter(llama2):
    sp, ours, _ = llama2
    assert [token_type(sp, i) for i in range(3)] == [2, 3, 3]
    assert ours.token_bytes[sp.piece_to_id("<0xF0>")] == b"\xf0"
