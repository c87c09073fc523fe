"""SentencePiece GGUF vocabularies against sentencepiece itself.

A small BPE model is trained here on ASCII text (so the Unicode below goes
through byte fallback), turned into GGUF metadata the way llama.cpp's
``convert_hf_to_gguf.py`` does, and our tokenizer must give sentencepiece's ids.
"""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import ConfigError
from rag.model.tokenizer import GGUFTokenizer, IncrementalDecoder

spm = pytest.importorskip("sentencepiece")
from tests.rag.model.spm_vocab import spm_metadata, train_spm  # noqa: E402 (needs sentencepiece)

TEXTS = [
    "Hello world!",
    "The quick brown fox jumps over the lazy dog. It's 2024; 12345 + 67.89 = ?",
    "def f(x):\n    return x ** 2  # square\n\nclass A:\n\tpass\n",
    "  leading spaces,   runs of   spaces and trailing   ",
    "tabs\tand\n\n\nnewlines\r\nwindows",
    "Unicode: café, naïve, Ærøskøbing, 日本語のテキスト, Ελληνικά, emoji 🙂🚀, math ∑∫√",
    "URLs https://example.com/a?b=c&d=e and e-mail a.b@c.org",
    "a literal \u2581 escape symbol",
    "",
    " ",
    "  ",
    "\n",
    "\t",
]


@pytest.fixture(scope="module")
def sp(tmp_path_factory):
    return train_spm(tmp_path_factory.mktemp("spm"))


@pytest.fixture(scope="module")
def tok(sp):
    return GGUFTokenizer(spm_metadata(sp))


def test_ids_equal_sentencepiece(sp, tok):
    for text in TEXTS:
        assert tok.encode(text) == [sp.bos_id(), *sp.encode(text)], text
    assert tok.encode("Hello", add_bos=False) == sp.encode("Hello")
    byte_ids = {i for i in range(sp.GetPieceSize()) if sp.IsByte(i)}
    assert byte_ids & set(tok.encode("日本語 🙂")), "the Unicode text must go through byte fallback"


def test_decode_is_sentencepiece_decode(sp, tok):
    for text in TEXTS:
        ours, theirs = tok.decode(tok.encode(text)), sp.decode(sp.encode(text))
        assert ours == theirs, text
        if "\u2581" not in text:  # sentencepiece reads a written "▁" back as a space
            assert ours == text


def test_token_bytes_spell_the_escaped_text(sp, tok):
    data = tok.token_bytes
    assert len(data) == tok.vocab_size == sp.GetPieceSize()
    assert data[sp.PieceToId("\u2581")] == b" "
    assert data[sp.PieceToId("<0xE3>")] == b"\xe3"
    assert data[sp.bos_id()] == data[sp.eos_id()] == data[sp.unk_id()] == b""
    for text in TEXTS:
        spelled = b"".join(data[i] for i in tok.encode(text, add_bos=False))
        # the prepended space is part of the tokens; "▁" in the text is indistinguishable from a space
        assert spelled == ((" " + text.replace("\u2581", " ")).encode() if text else b""), text


def test_control_and_user_defined_tokens_are_matched_whole(sp):
    """Each stretch of text between them is encoded (with its own space prefix) as sentencepiece encodes it alone.

    llama.cpp's converter marks tokens added beyond the sentencepiece model as user-defined (type 4).
    """
    meta = spm_metadata(sp)
    tool = len(meta["tokenizer.ggml.tokens"])
    meta["tokenizer.ggml.tokens"] = [*meta["tokenizer.ggml.tokens"], "<|tool|>"]
    meta["tokenizer.ggml.scores"] = np.append(meta["tokenizer.ggml.scores"], np.float32(-10000.0))
    meta["tokenizer.ggml.token_type"] = np.append(meta["tokenizer.ggml.token_type"], np.int32(4))
    tok = GGUFTokenizer(meta)
    bos, eos = sp.bos_id(), sp.eos_id()
    assert tok.encode("a</s>b") == [bos, *sp.encode("a"), eos, *sp.encode("b")]
    assert tok.encode("<s>hi </s></s>") == [bos, bos, *sp.encode("hi "), eos, eos]
    assert tok.encode("x <|tool|> y") == [bos, *sp.encode("x "), tool, *sp.encode(" y")]
    assert tok.is_control(eos) and not tok.is_control(tool)
    assert tok.decode(tok.encode("a</s>b")) == "a b"
    assert tok.decode(tok.encode("a</s>b", add_bos=False), skip_special=False) == "a</s> b"
    assert tok.token_bytes[tool] == b"<|tool|>"


def test_incremental_decoder_releases_whole_characters(tok):
    for text in ("naïve 日本語 🙂 done", "  two leading spaces", TEXTS[5]):
        decoder = IncrementalDecoder(tok)
        pieces = [decoder.push(t) for t in tok.encode(text)]
        assert "".join(pieces) == text == decoder.text
        assert all("\ufffd" not in p for p in pieces)


def test_without_space_prefix(tmp_path):
    sp = train_spm(tmp_path, add_dummy_prefix=False)
    tok = GGUFTokenizer({**spm_metadata(sp), "tokenizer.ggml.add_space_prefix": False})
    for text in TEXTS:
        assert tok.encode(text) == [sp.bos_id(), *sp.encode(text)], text
        assert tok.decode(tok.encode(text)) == sp.decode(sp.encode(text)), text


def test_add_bos_defaults_on_for_sentencepiece(sp):
    meta = spm_metadata(sp)
    del meta["tokenizer.ggml.add_bos_token"]
    assert GGUFTokenizer(meta).encode("hi")[0] == sp.bos_id()


def test_unsupported_vocabularies_are_refused(sp):
    for kind in ("bert", "rwkv", None):
        with pytest.raises(ConfigError, match="'gpt2'.*'llama'"):
            GGUFTokenizer({**spm_metadata(sp), "tokenizer.ggml.model": kind})
    meta = spm_metadata(sp)
    del meta["tokenizer.ggml.scores"]
    with pytest.raises(ConfigError, match="scores"):
        GGUFTokenizer(meta)


def test_vocabulary_read_back_from_a_gguf_file(sp, tmp_path):
    gguf = pytest.importorskip("gguf")
    from rag.model.gguf_file import GGUFFile

    meta = spm_metadata(sp)
    path = tmp_path / "spm.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(meta["tokenizer.ggml.tokens"])
    writer.add_token_scores(meta["tokenizer.ggml.scores"].tolist())
    writer.add_token_types(meta["tokenizer.ggml.token_type"].tolist())
    writer.add_bos_token_id(sp.bos_id())
    writer.add_eos_token_id(sp.eos_id())
    writer.add_unk_token_id(sp.unk_id())
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_tensor("token_embd.weight", np.zeros((sp.GetPieceSize(), 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    with GGUFFile(path) as f:
        read = f.metadata
        assert f.info("token_embd.weight").shape == (sp.GetPieceSize(), 8)
    assert read["general.architecture"] == "llama"
    for key, value in meta.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(read[key], value)
            assert read[key].dtype == value.dtype, key
        else:
            assert read[key] == value, key
    tok = GGUFTokenizer(read)
    for text in TEXTS:
        assert tok.encode(text) == [sp.bos_id(), *sp.encode(text)], text
