"""The template is read from the GGUF's metadata and rendered by its tokenizer; a file without one is refused."""

from __future__ import annotations

import gguf
import numpy as np
import pytest

from core.errors import ConfigError
from rag.model.gguf_file import GGUFFile
from rag.model.tokenizer import GGUFTokenizer
from tests.rag.model.chat_template.templates import ALTERNATING, CASES, LLAMA3, WITH_SYSTEM, reference


def test_the_template_comes_from_the_gguf(tmp_path):
    """Written with gguf's writer, read by our reader, rendered by the tokenizer with the file's BOS text."""
    tokens = ["<unk>", "<|begin_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>", "a", "b", "ab"]
    path = tmp_path / "t.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("llama-bpe")
    writer.add_token_list(tokens)
    writer.add_token_merges(["a b"])
    writer.add_token_types([3, 3, 3, 3, 3, 1, 1, 1])
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_chat_template(LLAMA3)
    writer.add_tensor("token_embd.weight", np.zeros((len(tokens), 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with GGUFFile(path) as f:
        tok = GGUFTokenizer(f.metadata)
    for messages in ALTERNATING + WITH_SYSTEM:
        expected = reference(CASES["llama3"]).apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        assert tok.apply_chat_template(messages) == expected
    assert tok.encode_chat(ALTERNATING[0])[:2] == [1, 3]  # one BOS (the template's), then the header
    assert tok.stop_ids == {2}


def test_no_template_in_the_file_is_a_config_error():
    tok = GGUFTokenizer({"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.tokens": ["a"], "tokenizer.ggml.pre": "gpt2"})
    with pytest.raises(ConfigError, match="no tokenizer.chat_template"):
        tok.apply_chat_template(ALTERNATING[0])
