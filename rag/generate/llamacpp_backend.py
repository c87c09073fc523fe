"""llama.cpp (through llama-cpp-python) behind the :class:`Generator` interface: an optional extra.

Used to compare our decoder against the reference C++ runtime on the same
GGUF. ``llama_cpp`` is imported when a generator is built, so importing this
module costs nothing when the extra is absent.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from typing import Any

from indexes.errors import ConfigError, MissingDependencyError
from rag.generate.base import ChatMessage, GenerationConfig, GenerationResult, Generator

_INSTALL = "llama-cpp-python is not installed; install the optional extra with: pip install llama-cpp-python"


def _import_llama() -> Any:
    try:
        import llama_cpp
    except ImportError as exc:
        raise MissingDependencyError(_INSTALL) from exc
    return llama_cpp


class LlamaCppGenerator(Generator):
    """A GGUF model run by llama.cpp.

    Args:
        gguf_path: the model file; None means the bundled SmolLM2-135M-Instruct.
        threads: CPU threads for decoding and prefill; None means all this process may use.
        n_ctx: context window allocated by llama.cpp.
    """

    name = "llama-cpp"

    def __init__(self, gguf_path: str | None = None, threads: int | None = None, n_ctx: int = 4096) -> None:
        llama_cpp = _import_llama()
        from rag.model.gguf_file import default_gguf_path

        path = gguf_path or default_gguf_path()
        if not os.path.isfile(path):
            raise ConfigError(f"GGUF file {path} does not exist; pass the path of a .gguf model")
        threads = threads or len(os.sched_getaffinity(0))
        t0 = time.perf_counter()
        self.llm = llama_cpp.Llama(
            model_path=path, n_threads=threads, n_threads_batch=threads, n_ctx=n_ctx, verbose=False
        )
        self.load_seconds = time.perf_counter() - t0

    def _request(self, messages: Sequence[ChatMessage], config: GenerationConfig) -> dict[str, Any]:
        if not messages:
            raise ConfigError("no messages to answer")
        if config.num_beams > 1:
            raise ConfigError("the llama-cpp backend has no beam search; use the torch backend or num_beams=1")
        return dict(
            messages=[{"role": m.role, "content": m.content} for m in messages],
            max_tokens=config.max_tokens,
            temperature=config.temperature,
            top_k=config.top_k if config.temperature > 0 else 1,
            top_p=config.top_p,
            repeat_penalty=config.repetition_penalty,
            stop=list(config.stop) or None,
            seed=config.seed,
            logit_bias={int(t): float(b) for t, b in config.logit_bias} or None,
        )

    def generate(self, messages: Sequence[ChatMessage], config: GenerationConfig | None = None) -> GenerationResult:
        config = config or GenerationConfig()
        self._reset()
        t0 = time.perf_counter()
        out = self.llm.create_chat_completion(**self._request(messages, config))
        total = time.perf_counter() - t0
        usage, choice = out["usage"], out["choices"][0]
        timings = self._timings()
        return GenerationResult(
            text=choice["message"]["content"] or "",
            prompt_tokens=usage["prompt_tokens"],
            generated_tokens=usage["completion_tokens"],
            finish_reason="stop" if choice.get("finish_reason") == "stop" else "length",
            prefill_seconds=timings.get("prefill_seconds", 0.0),
            decode_seconds=timings.get("decode_seconds", total),
            extra={"load_seconds": self.load_seconds, "total_seconds": total},
        )

    def stream(self, messages: Sequence[ChatMessage], config: GenerationConfig | None = None) -> Iterator[str]:
        config = config or GenerationConfig()
        self._reset()
        for chunk in self.llm.create_chat_completion(stream=True, **self._request(messages, config)):
            piece = chunk["choices"][0].get("delta", {}).get("content")
            if piece:
                yield piece

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def _reset(self) -> None:
        """Forget the previous request: KV cache (no prompt reuse between requests) and timing counters."""
        self.llm.reset()
        reset = getattr(_import_llama(), "llama_perf_context_reset", None)
        if reset is not None:
            reset(self.llm.ctx)

    def _timings(self) -> dict[str, float]:
        """Prefill and decode seconds of the last request from llama.cpp's own counters."""
        perf_context = getattr(_import_llama(), "llama_perf_context", None)
        if perf_context is None:  # older bindings
            return {}
        perf = perf_context(self.llm.ctx)
        return {"prefill_seconds": perf.t_p_eval_ms / 1000.0, "decode_seconds": perf.t_eval_ms / 1000.0}

    def close(self) -> None:
        self.llm.close()
