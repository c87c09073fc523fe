"""Our own torch decoder (:mod:`rag.model`) behind the :class:`Generator` interface."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence

import torch

from core.errors import ConfigError
from rag.generate.base import ChatMessage, GenerationConfig, GenerationResult, RetroGenerator
from rag.model import DEFAULT_QUANT, Decoder, DecodeStats, beam_search, load_gguf
from rag.model.constraints import ByteMachine, TokenConstraint
from rag.model.generation import first_stop
from rag.model.retro import Neighbour, NeighbourSource, RetroConfig, Retrofit


def _default_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class TorchGenerator(RetroGenerator):
    """SmolLM2 (or any Llama-architecture GGUF) run by :mod:`rag.model` on the CPU.

    Greedy requests decode speculatively with prompt lookup (same output, fewer
    passes when the answer quotes the prompt). The repetition stop
    (``GenerationConfig.stop_repeat_ngram``) runs inside the decoding loop, so a
    loop costs only the tokens up to its detection; beam search ignores it.
    Generation is serialised by a lock: the model is shared, and two
    concurrent decodes on two cores would only slow each other down.

    Args:
        gguf_path: the model file; None means the bundled SmolLM2-135M-Instruct.
        quant: "int4" (default; the file's own 4-bit groups), "int8" or "fp32".
        threads: CPU threads for torch and the numba kernels; None means all
            this process may use. Thread counts are process-wide settings.
        retro_weights: the trained RETRO retrofit (weights stem) that ``generate_retro`` attaches;
            None means the packaged one (rag/retro/weights/retro-scifact). Loaded on first use.
        warm_up: load the compiled kernels now with a pass of each kind (a server's first question then does
            not wait for them); False leaves each to load on its first use, which a single answer (the
            CLI's) does sooner, and spares it the warm-up passes' own compute.
    """

    name = "torch"
    supports_constraints = True  # generate(..., constraint=ByteMachine) restricts the output

    def __init__(
        self,
        gguf_path: str | None = None,
        quant: str = DEFAULT_QUANT,
        threads: int | None = None,
        retro_weights: str | None = None,
        warm_up: bool = True,
    ) -> None:
        self.threads = threads if threads is not None else _default_threads()
        if self.threads < 1:
            raise ConfigError(f"threads must be at least 1, got {threads}")
        _set_threads(self.threads)
        t0 = time.perf_counter()
        self.model, self.tokenizer = load_gguf(gguf_path, quant, threads=self.threads, warm_up=warm_up)
        self.load_seconds = time.perf_counter() - t0
        self.quant = quant
        self.decoder = Decoder(self.model, self.tokenizer)
        self._lock = threading.Lock()
        self.retro_weights = retro_weights
        self._retrofit: Retrofit | None = None

    # -- prompts -----------------------------------------------------------
    def prompt_ids(self, messages: Sequence[ChatMessage]) -> list[int]:
        """Token ids of ``messages`` rendered with the model's chat template (ending with the assistant turn)."""
        if not messages:
            raise ConfigError("no messages to answer")
        return self.tokenizer.encode_chat([{"role": m.role, "content": m.content} for m in messages])

    def count_tokens(self, text: str) -> int:
        return len(self.token_ids(text))

    def token_ids(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_bos=False)

    def token_text(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids))

    def constraint(self, machine: ByteMachine) -> TokenConstraint:
        """Wrap a byte-level state machine for this vocabulary (reuse it: it memoises masks)."""
        return TokenConstraint(machine, self.tokenizer.token_bytes, self.decoder.stop_ids)

    def score_replies(
        self, messages: Sequence[ChatMessage], runs: Sequence[tuple[Sequence[int], Sequence[int]]]
    ) -> list[list[float]]:
        """Log-probability of replies that are prefixes of token runs (see ``Decoder.score_prefixes``)."""
        prompt = self.prompt_ids(messages)
        with self._lock:
            return self.decoder.score_prefixes(prompt, runs)

    # -- generation --------------------------------------------------------
    def stream(
        self,
        messages: Sequence[ChatMessage],
        config: GenerationConfig | None = None,
        *,
        constraint: TokenConstraint | ByteMachine | None = None,
        speculative: bool = True,
        stats: DecodeStats | None = None,
    ) -> Iterator[str]:
        """Yield the reply in text pieces as they are decoded.

        Args:
            messages: the conversation.
            config: sampling settings (default: greedy, 256 tokens).
            constraint: restrict the output to what a state machine accepts.
            speculative: allow prompt-lookup speculation when decoding greedily.
            stats: filled in with token counts and timings.
        """
        config = config or GenerationConfig()
        if config.num_beams > 1:  # a search has no text before it ends: the best reply comes as one piece
            if constraint is not None:
                raise ConfigError("beam search takes no constraint; use num_beams=1 for constrained decoding")
            yield self._beam(messages, config, stats)
            return
        if constraint is not None and not isinstance(constraint, TokenConstraint):
            constraint = self.constraint(constraint)
        prompt = self.prompt_ids(messages)
        with self._lock:
            yield from self.decoder.stream(prompt, config, stats, constraint=constraint, speculative=speculative)

    def generate(
        self,
        messages: Sequence[ChatMessage],
        config: GenerationConfig | None = None,
        *,
        constraint: TokenConstraint | ByteMachine | None = None,
        speculative: bool = True,
        on_text: Callable[[str], None] | None = None,
    ) -> GenerationResult:
        """The whole reply; ``on_text`` (if given) hears each piece as it is decoded (see generate_streaming)."""
        stats = DecodeStats()
        pieces = []
        for piece in self.stream(messages, config, constraint=constraint, speculative=speculative, stats=stats):
            pieces.append(piece)
            if on_text is not None:
                on_text(piece)
        result = self._result("".join(pieces), stats)
        if config is not None and config.num_beams > 1:
            result.extra["num_beams"] = config.num_beams
        return result

    def generate_streaming(
        self, messages: Sequence[ChatMessage], config: GenerationConfig | None, on_text: Callable[[str], None]
    ) -> GenerationResult:
        return self.generate(messages, config, on_text=on_text)

    def retrofit(self) -> Retrofit:
        """The RETRO retrofit, loaded on first use (its CCA layers run in fp32 on the quantized base)."""
        with self._lock:
            if self._retrofit is None:
                from rag.retro import DEFAULT_WEIGHTS

                self._retrofit = Retrofit.load(self.retro_weights or DEFAULT_WEIGHTS)
            return self._retrofit

    def retro_config(self) -> RetroConfig:
        return self.retrofit().config

    def generate_retro(
        self,
        messages: Sequence[ChatMessage],
        source: NeighbourSource,
        config: GenerationConfig | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> tuple[GenerationResult, list[tuple[Neighbour, float]]]:
        """Generate with the retrieved text entering through chunked cross-attention, not the prompt.

        ``source`` gives each chunk of ``retrofit().config.chunk`` tokens its neighbours once the
        chunk is complete. The CCA modules are attached for this generation only (other requests keep
        the one-call decoding step), and speculation is off (a draft would retrieve for text it may drop).
        Returns the result and every neighbour with the share of its chunk's attention it received.
        """
        config = config or GenerationConfig()
        if config.num_beams > 1:
            raise ConfigError("retro generation decodes one hypothesis; use num_beams=1")
        retrofit = self.retrofit()
        prompt = self.prompt_ids(messages)
        stats = DecodeStats()
        with self._lock:
            retrofit.attach(self.model)
            try:
                context = retrofit.context(self.model, source=source, record=True)
                pieces = []
                for piece in self.decoder.stream(prompt, config, stats, speculative=False, context=context):
                    pieces.append(piece)
                    if on_text is not None:
                        on_text(piece)
                text = "".join(pieces)
            finally:
                retrofit.detach(self.model)
        result = self._result(text, stats)
        result.extra["context"] = "retro"
        result.extra["retro_chunks"] = len(context.neighbours)
        result.extra["fusion_seconds"] = context.seconds
        return result, context.attended()

    def _beam(self, messages: Sequence[ChatMessage], config: GenerationConfig, stats: DecodeStats | None) -> str:
        """Beam search for ``config.num_beams`` hypotheses (sampling settings other than max_tokens and stop unused)."""
        prompt = self.prompt_ids(messages)
        with self._lock:
            t0 = time.perf_counter()
            best = beam_search(
                self.model,
                prompt,
                config.num_beams,
                config.max_tokens,
                sorted(self.decoder.stop_ids),
                config.length_penalty,
            )[0]
            seconds = time.perf_counter() - t0
        text, finish = self.tokenizer.decode(best.tokens), "stop" if best.finished else "length"
        cut = first_stop(text, config.stop)
        if cut >= 0:
            text, finish = text[:cut], "stop"
        if stats is not None:
            stats.prompt_tokens, stats.generated_tokens = len(prompt), len(best.tokens)
            stats.decode_seconds, stats.finish_reason = seconds, finish
        return text

    def _result(self, text: str, stats: DecodeStats) -> GenerationResult:
        return GenerationResult(
            text=text,
            prompt_tokens=stats.prompt_tokens,
            generated_tokens=stats.generated_tokens,
            finish_reason=stats.finish_reason,
            prefill_seconds=stats.prefill_seconds,
            decode_seconds=stats.decode_seconds,
            extra={
                "quant": self.quant,
                "forward_passes": stats.forward_passes,
                "drafted_tokens": stats.drafted_tokens,
                "accepted_tokens": stats.accepted_tokens,
                "acceptance_rate": stats.acceptance_rate,
                "repeated_tokens": stats.repeated_tokens,
                "load_seconds": self.load_seconds,
            },
        )


def _set_threads(threads: int) -> None:
    torch.set_num_threads(threads)
    import numba  # the kernels' thread pool is separate from torch's

    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
