"""llama.cpp (through llama-cpp-python) behind the :class:`Generator` interface: an optional extra.

Used to compare our decoder against the reference C++ runtime on the same
GGUF. ``llama_cpp`` is imported when a generator is built, so importing this
module costs nothing when the extra is absent.

The repetition stop (``GenerationConfig.stop_repeat_ngram``) runs outside
llama.cpp's loop: :meth:`LlamaCppGenerator.generate` cuts the finished reply
after the fact (on its tokens, re-tokenized from the text), and
:meth:`LlamaCppGenerator.stream` watches the streamed pieces (one per token),
holds back those a cut could still remove and ends the stream at the repeat.
llama.cpp's repeat penalty always counts the prompt; ``penalize_prompt=False``
replaces it with :class:`OutputPenalty`, the same penalty as a logits processor
that skips the prompt.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from core.errors import ConfigError, MissingDependencyError
from rag.generate.base import ChatMessage, GenerationConfig, GenerationResult, Generator
from rag.model.repetition import RepetitionStop, repetition_cut

_INSTALL = "llama-cpp-python is not installed; install the optional extra with: pip install llama-cpp-python"


def _import_llama() -> Any:
    try:
        import llama_cpp
    except ImportError as exc:
        raise MissingDependencyError(_INSTALL) from exc
    return llama_cpp


class OutputPenalty:
    """The repetition penalty over generated tokens only, as a llama.cpp logits processor (one per request).

    llama.cpp calls it with the whole sequence so far (int32 (n,)) and the next
    token's logits (float32 (vocab,)); the first call comes right after the
    prompt, so its length is where the output starts. The penalty is our
    sampler's: the last ``REPETITION_WINDOW`` generated tokens, positive logits
    divided, negative ones multiplied.
    """

    def __init__(self, penalty: float) -> None:
        from rag.model.sampling import REPETITION_WINDOW

        self.penalty, self.window = penalty, REPETITION_WINDOW
        self.start: int | None = None

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        if self.start is None:
            self.start = len(input_ids)
        recent = np.unique(np.asarray(input_ids[max(self.start, len(input_ids) - self.window) :]))
        if recent.size:
            seen = scores[recent]
            scores[recent] = np.where(seen > 0, seen / self.penalty, seen * self.penalty)
        return scores


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
        request = dict(
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
        if config.repetition_penalty != 1.0 and not config.penalize_prompt:
            request.update(repeat_penalty=1.0, logits_processor=OutputPenalty(config.repetition_penalty))
        return request

    def generate(self, messages: Sequence[ChatMessage], config: GenerationConfig | None = None) -> GenerationResult:
        config = config or GenerationConfig()
        self._reset()
        t0 = time.perf_counter()
        out = self.llm.create_chat_completion(**self._request(messages, config))
        total = time.perf_counter() - t0
        usage, choice = out["usage"], out["choices"][0]
        timings = self._timings()
        text = choice["message"]["content"] or ""
        finish = "stop" if choice.get("finish_reason") == "stop" else "length"
        if config.stop_repeat_ngram:
            ids = self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
            keep = repetition_cut(ids, config.stop_repeat_ngram, config.stop_repeat_count)
            if keep is not None:
                text = self.llm.detokenize(ids[:keep]).decode("utf-8", errors="ignore")
                finish = "repetition"
        return GenerationResult(
            text=text,
            prompt_tokens=usage["prompt_tokens"],
            generated_tokens=usage["completion_tokens"],
            finish_reason=finish,
            prefill_seconds=timings.get("prefill_seconds", 0.0),
            decode_seconds=timings.get("decode_seconds", total),
            extra={"load_seconds": self.load_seconds, "total_seconds": total},
        )

    def stream(self, messages: Sequence[ChatMessage], config: GenerationConfig | None = None) -> Iterator[str]:
        config = config or GenerationConfig()
        self._reset()
        chunks = self.llm.create_chat_completion(stream=True, **self._request(messages, config))
        pieces = (c["choices"][0].get("delta", {}).get("content") for c in chunks)
        if not config.stop_repeat_ngram:
            yield from (piece for piece in pieces if piece)
            return
        watch, released = RepetitionStop(config.stop_repeat_ngram, config.stop_repeat_count), 0
        try:
            for piece in pieces:
                if piece and watch.push(piece):
                    break  # closing the stream below ends llama.cpp's decoding
                if watch.safe > released:
                    yield "".join(watch.tokens[released : watch.safe])
                    released = watch.safe
        finally:
            getattr(chunks, "close", lambda: None)()
        end = watch.keep if watch.stopped else len(watch.tokens)
        if end > released:
            yield "".join(watch.tokens[released:end])

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
