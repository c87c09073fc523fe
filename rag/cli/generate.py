"""``rag generate PROMPT``: one chat turn with the local model, streamed or as a JSON report."""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

from core.errors import ConfigError
from rag.cli import GLOBAL_OPTIONS

QUANT_CHOICES = ("int4", "int8", "fp32")  # rag.model.QUANT_MODES, spelled out to keep `rag --help` free of torch


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "generate", parents=[GLOBAL_OPTIONS], help="answer a prompt with the local model (chat template applied)"
    )
    p.add_argument("prompt", help="the user message")
    p.add_argument("--system", help="a system message (default: the chat template's own)")
    p.add_argument("--max-tokens", type=int, default=256, help="most tokens to generate (default 256)")
    p.add_argument("--temperature", type=float, default=0.0, help="0 decodes greedily (default)")
    p.add_argument("--top-k", type=int, default=0, help="sample among the k likeliest tokens; 0 disables")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass; 1 disables")
    p.add_argument("--repetition-penalty", type=float, default=1.0, help=">1 discourages repeats")
    p.add_argument("--stop", action="append", default=[], help="stop before this string (repeatable)")
    p.add_argument("--seed", type=int, help="random seed for sampling")
    p.add_argument("--beams", type=int, default=1, help="torch backend: beam search over N hypotheses (default 1: off)")
    p.add_argument(
        "--backend",
        choices=("torch", "llama-cpp"),
        default="torch",
        help="our torch decoder (default) or llama.cpp (optional extra)",
    )
    p.add_argument("--quant", choices=QUANT_CHOICES, help="torch backend weight mode (default int4)")
    p.add_argument("--threads", type=int, help="CPU threads (default: all available)")
    p.add_argument(
        "--model",
        "--gguf",
        dest="gguf",
        help="a GGUF: a name `rag models` lists or a path (default: RAG_MODEL, else the shipped SmolLM2-135M-Instruct)",
    )
    p.add_argument("--no-speculative", action="store_true", help="torch backend: no prompt-lookup speculation")
    p.add_argument(
        "--schema",
        help="torch backend: constrain the reply to JSON conforming to this JSON Schema (inline JSON or a file path)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: text, token counts, tokens/s, load seconds, peak RSS in MB",
    )
    p.set_defaults(func=cmd_generate)


def _peak_rss_mb() -> float:
    """Peak resident memory of this process so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _json_machine(schema: str):
    """A JsonMachine for ``schema``, given inline or as the path of a .json file."""
    from pathlib import Path

    from rag.model.json_machine import JsonMachine

    text = Path(schema).read_text(encoding="utf-8") if Path(schema).is_file() else schema
    try:
        return JsonMachine(json.loads(text))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--schema is neither a file nor valid JSON ({exc})") from None


def _model_path(args: argparse.Namespace) -> str | None:
    """The GGUF ``--model`` (else ``RAG_MODEL``) names; None: the shipped one."""
    from rag.cli import settings_from
    from rag.model.catalog import resolve_model

    settings = settings_from(args)
    return resolve_model(args.gguf or settings.model, settings.models_path)


def cmd_generate(args: argparse.Namespace) -> int:
    from rag.generate.base import ChatMessage, GenerationConfig

    config = GenerationConfig(
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        repetition_penalty=args.repetition_penalty,
        stop=tuple(args.stop),
        seed=args.seed,
        num_beams=args.beams,
    )
    messages = ([ChatMessage("system", args.system)] if args.system else []) + [ChatMessage("user", args.prompt)]
    t0 = time.perf_counter()
    args.gguf = _model_path(args)
    if args.backend == "llama-cpp":
        if args.schema:
            raise ConfigError("--schema needs the torch backend (llama.cpp here has no byte-level constraints)")
        from rag.generate.llamacpp_backend import LlamaCppGenerator

        generator = LlamaCppGenerator(gguf_path=args.gguf, threads=args.threads)
        options = {}
    else:
        from rag.generate.torch_backend import TorchGenerator

        kwargs = {"quant": args.quant} if args.quant else {}
        # one answer: each kernel loads when first used, without the warm-up's passes
        generator = TorchGenerator(gguf_path=args.gguf, threads=args.threads, warm_up=False, **kwargs)
        options = {"speculative": not args.no_speculative}
        if args.schema:
            options["constraint"] = _json_machine(args.schema)
    startup_seconds = time.perf_counter() - t0  # imports (torch, numba) plus loading the model
    if not args.json:
        for piece in generator.stream(messages, config, **options):
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")
        return 0
    result = generator.generate(messages, config, **options)
    report = {
        "text": result.text,
        "backend": args.backend,
        "quant": getattr(generator, "quant", None),
        "prompt_tokens": result.prompt_tokens,
        "generated_tokens": result.generated_tokens,
        "finish_reason": result.finish_reason,
        "prefill_tokens_per_s": round(result.prefill_tokens_per_s, 1),
        "decode_tokens_per_s": round(result.decode_tokens_per_s, 1),
        "load_seconds": round(generator.load_seconds, 3),
        "startup_seconds": round(startup_seconds, 3),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }
    for key in ("forward_passes", "drafted_tokens", "accepted_tokens", "acceptance_rate"):
        if key in result.extra:
            report[key] = result.extra[key]
    print(json.dumps(report, ensure_ascii=False))
    return 0
