"""Local text generators behind one interface (:class:`rag.generate.base.Generator`)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from core.errors import ConfigError
from rag.generate.base import ChatMessage, GenerationConfig, GenerationResult, Generator, RetroGenerator

if TYPE_CHECKING:  # httpx only where the backend is used
    from rag.generate.openai_backend import OpenAIServer

BACKENDS = ("torch", "transformers", "llama-cpp", "openai")


def load_generator(
    backend: str = "torch",
    gguf_path: str | None = None,
    quant: str = "int4",
    threads: int | None = None,
    server: OpenAIServer | None = None,
) -> Generator:
    """Build a generator by backend name; unknown names raise :class:`ConfigError`.

    ``server`` is where the ``openai`` backend sends its requests (required for it, ignored by the others).
    """
    if backend == "torch":
        from rag.generate.torch_backend import TorchGenerator

        return TorchGenerator(gguf_path=gguf_path, quant=quant, threads=threads)
    if backend == "transformers":
        from rag.generate.hf_backend import TransformersGenerator

        return TransformersGenerator(gguf_path=gguf_path, threads=threads)
    if backend == "llama-cpp":
        from rag.generate.llamacpp_backend import LlamaCppGenerator

        return LlamaCppGenerator(gguf_path=gguf_path, threads=threads)
    if backend == "openai":
        from rag.generate.openai_backend import OpenAIGenerator

        if server is None:
            raise ConfigError("the openai generator needs a server: set RAG_OPENAI_BASE_URL (and RAG_OPENAI_MODEL)")
        return OpenAIGenerator(server)
    raise ConfigError(f"unknown generator backend {backend!r}; use one of {', '.join(BACKENDS)}")


@lru_cache(maxsize=2)
def shared_generator(
    backend: str = "torch",
    gguf_path: str | None = None,
    quant: str = "int4",
    threads: int | None = None,
    server: OpenAIServer | None = None,
) -> Generator:
    """One loaded model per process and configuration (models are read-only once loaded)."""
    return load_generator(backend, gguf_path, quant, threads, server)


__all__ = [
    "BACKENDS",
    "ChatMessage",
    "GenerationConfig",
    "GenerationResult",
    "Generator",
    "RetroGenerator",
    "load_generator",
    "shared_generator",
]
