"""``rag models``: the GGUF models this platform can answer with, and which one it uses.

Lists the shipped model and every ``.gguf`` in the models folder (``RAG_MODELS_DIR``, default
``<data-dir>/models``) with architecture, parameters, tensor types, context length and file size,
read from the files' headers (no weights load). ``RAG_MODEL=NAME`` (or a path) picks one.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from rag.cli import GLOBAL_OPTIONS


def register(sub) -> None:
    p = sub.add_parser(
        "models",
        parents=[GLOBAL_OPTIONS],
        help="list the GGUF models (the shipped one and those in RAG_MODELS_DIR)",
        description="The GGUF models the generator can load: the shipped SmolLM2-135M-Instruct and every .gguf "
        "in RAG_MODELS_DIR (default <data-dir>/models). Choose one with RAG_MODEL=NAME or a path.",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per model")
    p.set_defaults(func=cmd_models)


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def _params(n: int) -> str:
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.0f}M"


def cmd_models(args: argparse.Namespace) -> int:
    from rag.cli import settings_from
    from rag.model.catalog import list_models, resolve_model

    settings = settings_from(args)
    models = list_models(settings.models_path)
    active = resolve_model(settings.model, settings.models_path, models)
    if args.json:
        for m in models:
            print(json.dumps({**asdict(m), "active": _is_active(m, active)}))
        return 0
    print(f"models folder: {settings.models_path}" + ("" if settings.models_path.is_dir() else " (absent)"))
    for m in models:
        mark = "*" if _is_active(m, active) else " "
        types = ",".join(m.tensor_types)
        context = m.context_length or "?"
        line = f"{mark} {m.name:40} {m.architecture or '?':8} {_params(m.parameters):>7} {types:20} ctx {context:<6}"
        print(f"{line} {_size(m.file_bytes):>9}" + (f"  (cannot run: {m.problem})" if m.problem else ""))
    print("* = the model in use (RAG_MODEL)")
    return 0


def _is_active(model, active: str | None) -> bool:
    return model.shipped if active is None else model.path == active
