"""An architecture or rope scaling the decoder does not support is refused with a message that names it."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from rag.model.config import SUPPORTED_ARCHS, LlamaConfig


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
