"""Tokenizer and chat template against transformers' GGUF tokenizer; streaming detokenization."""

from __future__ import annotations

import pytest

from rag.model.tokenizer import IncrementalDecoder

TEXTS = [
    "Hello world!",
    "The quick brown fox jumps over the lazy dog. It's 2024; 12345 + 67.89 = ?",
    "def f(x):\n    return x ** 2  # square\n\nclass A:\n\tpass\n",
    "  leading spaces,   runs of   spaces and trailing   ",
    "tabs\tand\n\n\nnewlines\r\nwindows",
    "Unicode: café, naïve, Ærøskøbing, 日本語のテキスト, Ελληνικά, emoji 🙂🚀, math ∑∫√",
    "<|im_start|>user\nspecial tokens inside text<|im_end|>",
    "URLs https://example.com/a?b=c&d=e and e-mail a.b@c.org",
    "",
    " ",
    "\n",
]


@pytest.fixture(scope="module")
def reference(hf_dir):
    transformers = pytest.importorskip("transformers")
    folder, name = hf_dir
    return transformers.AutoTokenizer.from_pretrained(folder, gguf_file=name)


def test_token_ids_equal_the_reference_tokenizer(tokenizer, reference):
    for text in TEXTS:
        assert tokenizer.encode(text) == reference(text, add_special_tokens=True)["input_ids"], text


def test_decode_round_trips(tokenizer):
    for text in TEXTS:
        if "<|im_start|>" not in text:
            assert tokenizer.decode(tokenizer.encode(text)) == text


def test_chat_template_equals_the_reference(tokenizer, reference):
    conversations = [
        [{"role": "user", "content": "hi"}],
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is RAG?"},
         {"role": "assistant", "content": "Retrieval-augmented generation."}, {"role": "user", "content": "And?"}],
    ]
    for messages in conversations:
        expected = reference.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        assert tokenizer.apply_chat_template(messages) == expected


def test_incremental_decoder_releases_whole_characters(tokenizer):
    text = "naïve 日本語 🙂 done"
    decoder = IncrementalDecoder(tokenizer)
    pieces = [decoder.push(t) for t in tokenizer.encode(text)]
    assert "".join(pieces) == text
    assert all("\ufffd" not in p for p in pieces)


def test_token_bytes_cover_the_vocabulary(tokenizer):
    data = tokenizer.token_bytes
    assert len(data) == tokenizer.vocab_size
    ids = tokenizer.encode("héllo wörld")
    assert b"".join(data[i] for i in ids).decode("utf-8") == "héllo wörld"
    assert data[tokenizer.eos_id] == b""
