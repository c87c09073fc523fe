"""Which backends can read retrieved text through chunked cross-attention: the interface says, not a getattr."""

from __future__ import annotations

from rag.generate.base import Generator, RetroGenerator
from rag.generate.hf_backend import TransformersGenerator
from rag.generate.llamacpp_backend import LlamaCppGenerator
from rag.generate.torch_backend import TorchGenerator


def test_only_the_torch_backend_is_a_retro_generator():
    assert issubclass(TorchGenerator, RetroGenerator)
    for backend in (TransformersGenerator, LlamaCppGenerator):
        assert issubclass(backend, Generator) and not issubclass(backend, RetroGenerator)


def test_the_torch_backend_implements_every_retro_method():
    assert not TorchGenerator.__abstractmethods__
    assert {
        "retro_config",
        "prompt_ids",
        "token_ids",
        "token_text",
        "generate_retro",
    } <= RetroGenerator.__abstractmethods__
