"""Generator backed by transformers, loading the shipped GGUF (dequantized to fp32).

This is the simple reference path: transformers reads the GGUF with the
``gguf`` package and builds a float32 Llama. Our own quantized decoder
(``rag.generate.torch_backend``) is faster and smaller; this backend stays as
the reference that its logits are tested against.

The repetition stop (``GenerationConfig.stop_repeat_ngram``) is applied after the
fact: transformers decodes to its end, then the reply is cut where our decoder
would have cut it (same tokens, same cut; only the time of the loop is spent).
``penalize_prompt=False`` becomes transformers' own ``prompt_ignore_length``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from rag.generate.base import ChatMessage, GenerationConfig, GenerationResult, Generator
from rag.model.gguf_file import default_gguf_path
from rag.model.repetition import repetition_cut


class TransformersGenerator(Generator):
    """SmolLM2 (or any Llama GGUF) through ``AutoModelForCausalLM.from_pretrained(gguf_file=...)``."""

    name = "transformers"

    def __init__(self, gguf_path: str | None = None, threads: int | None = None) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        path = gguf_path or str(default_gguf_path())
        folder, name = os.path.split(path)
        if threads:
            torch.set_num_threads(threads)
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        self.model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
        self.model.eval()

    def _prompt_ids(self, messages: Sequence[ChatMessage]):
        chat = [{"role": m.role, "content": m.content} for m in messages]
        enc = self.tokenizer.apply_chat_template(
            chat, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        return enc["input_ids"]

    def generate(self, messages: Sequence[ChatMessage], config: GenerationConfig | None = None) -> GenerationResult:
        cfg = config or GenerationConfig()
        ids = self._prompt_ids(messages)
        kwargs = {
            "max_new_tokens": cfg.max_tokens,
            "do_sample": cfg.temperature > 0,
            "repetition_penalty": cfg.repetition_penalty,
            "pad_token_id": self.tokenizer.eos_token_id,
            "num_beams": cfg.num_beams,
            "length_penalty": cfg.length_penalty,
        }
        if cfg.repetition_penalty != 1.0 and not cfg.penalize_prompt:
            from transformers import LogitsProcessorList, RepetitionPenaltyLogitsProcessor

            penalty = RepetitionPenaltyLogitsProcessor(cfg.repetition_penalty, prompt_ignore_length=ids.shape[1])
            kwargs.update(repetition_penalty=1.0, logits_processor=LogitsProcessorList([penalty]))
        if cfg.temperature > 0:
            kwargs.update(temperature=cfg.temperature, top_p=cfg.top_p, top_k=cfg.top_k or None)
            if cfg.seed is not None:
                self.torch.manual_seed(cfg.seed)
        if cfg.stop:
            kwargs.update(stop_strings=list(cfg.stop), tokenizer=self.tokenizer)
        t0 = time.perf_counter()
        with self.torch.inference_mode():
            out = self.model.generate(ids, **kwargs)
        elapsed = time.perf_counter() - t0
        new = out[0, ids.shape[1] :]
        finish = "length" if new.shape[0] >= cfg.max_tokens else "stop"
        generated = int(new.shape[0])
        if cfg.stop_repeat_ngram and cfg.num_beams == 1:  # beam search ignores the stop, as in our decoder
            keep = repetition_cut(new.tolist(), cfg.stop_repeat_ngram, cfg.stop_repeat_count)
            if keep is not None:
                new, finish = new[:keep], "repetition"
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        for stop in cfg.stop:
            cut = text.find(stop)
            if cut >= 0:
                text, finish = text[:cut], "stop"
        return GenerationResult(
            text=text.strip(),
            prompt_tokens=int(ids.shape[1]),
            generated_tokens=generated,
            finish_reason=finish,
            decode_seconds=elapsed,
        )

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))
