"""Where the server's memory goes: VmRSS added by each part, loaded in one process in the server's order.

Run by :mod:`benchmarks.server_memory` (``--stages``) in a fresh interpreter; prints one JSON
list, a row per stage: its name, the VmRSS after it and what it added (MB), and what the
stage can say about itself (the bytes of a model's own tensors, whether two copies share
their weights, how many numba functions are compiled). After each stage the heap is trimmed
(``malloc_trim``): ``added_mb`` is what the stage holds, ``freed_by_trim_mb`` what it had
freed but malloc kept (what the server's own trims give back). A stage's MB include the libraries
its first use imports, so the order matters: it is the order a server meets them (start,
first upload, first question in mode ``reader``, then a question that writes).

    python -m benchmarks.memory_stages
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.server_memory import DOCS, QUESTION

PASSAGES = 64  # at most this many passages are embedded by the "embed" stage


def vmrss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise KeyError("VmRSS")


def tensor_mb(root, depth: int = 8) -> float:
    """MB of the torch tensors and numpy arrays reachable from ``root`` through attributes, containers and
    submodules (each buffer once): a model's weights, however it keeps them (the generator's are numpy)."""
    import numpy as np
    import torch

    seen: dict[int, object] = {}  # holds what it names, so that no id is reused while walking
    buffers: dict[int, int] = {}

    def walk(obj, left: int) -> None:
        if id(obj) in seen or left == 0:
            return
        seen[id(obj)] = obj
        if isinstance(obj, torch.Tensor):
            buffers[obj.untyped_storage().data_ptr()] = obj.untyped_storage().nbytes()
        elif isinstance(obj, np.ndarray):
            base = obj
            while isinstance(base.base, np.ndarray):
                base = base.base
            buffers[base.ctypes.data] = base.nbytes
        elif isinstance(obj, torch.nn.Module):
            for module in obj.modules():
                walk({k: v for k, v in vars(module).items() if k != "_modules"}, left - 1)
        elif isinstance(obj, (list, tuple, dict)):
            for item in obj.values() if isinstance(obj, dict) else obj:
                walk(item, left - 1)
        elif hasattr(obj, "__dict__") and not isinstance(obj, type):
            walk(vars(obj), left - 1)

    walk(root, depth)
    return round(sum(buffers.values()) / 2**20, 1)


def shared_fraction(a, b) -> float:
    """Share of ``b``'s parameter storage that is ``a``'s (1.0: ``b`` copies nothing)."""
    mine = {p.untyped_storage().data_ptr() for p in a.parameters()}
    theirs = [p for p in b.parameters()]
    same = sum(p.numel() for p in theirs if p.untyped_storage().data_ptr() in mine)
    return round(same / max(1, sum(p.numel() for p in theirs)), 3)


def numba_functions() -> int:
    """Compiled numba overloads alive in this process."""
    from numba.core.registry import CPUDispatcher

    return sum(len(o.overloads) for o in gc.get_objects() if isinstance(o, CPUDispatcher))


def hf_stack_imported() -> list[str]:
    """Which of the Hugging Face modeling stack this process has imported (the server needs none of it:
    MiniLM runs on ingest.embed.bert, its tokenizer on the tokenizers library)."""
    names = ("transformers", "sentence_transformers", "torch._dynamo", "sympy", "pandas", "sklearn")
    return [n for n in names if n in sys.modules]


def release_free_heap() -> None:
    name = ctypes.util.find_library("c")
    if name:
        ctypes.CDLL(name).malloc_trim(0)


def stage_import_app(state: dict) -> dict:
    # what api.app imports at start (benchmarks do not import api): the web framework and the library,
    # torch through rag.pipeline, numba and scipy through indexes, duckdb and pyarrow through rag.store
    import litestar  # noqa: F401

    import rag.platform  # noqa: F401

    return {}


def stage_open_platform(state: dict) -> dict:
    from rag.platform import Platform
    from rag.settings import Settings

    state["platform"] = Platform(Settings.from_env().replace(data_dir=Path(state["tmp"]) / "data"))
    return {}


def stage_embedder(state: dict) -> dict:
    embedder = state["embedder"] = state["platform"].embedder
    return {
        "kind": embedder.kind,
        "weights_mb": tensor_mb(embedder.model),
        "query_copy_shares_weights": shared_fraction(embedder.model, embedder._query_model),
        "hf_stack_imported": hf_stack_imported(),
    }


def stage_embed(state: dict) -> dict:
    texts = [p.read_text()[:1200] for p in sorted(DOCS.glob("*.md"))][:PASSAGES]
    t0 = time.perf_counter()
    state["vectors"] = state["embedder"].embed(texts)
    state["embedder"].embed_query(QUESTION)
    return {"passages": len(texts), "seconds": round(time.perf_counter() - t0, 2)}


def stage_index(state: dict) -> dict:
    import indexes

    index = indexes.create(state["platform"].settings.index_spec, state["vectors"].shape[1])
    index.add(state["vectors"])
    index.search(state["vectors"][:2], 5)
    return {"spec": state["platform"].settings.index_spec, "numba_functions": numba_functions()}


def stage_reader(state: dict) -> dict:
    from rag.reader import Reader

    reader = Reader()
    reader.best(QUESTION, [p.read_text()[:1500] for p in sorted(DOCS.glob("*.md"))[:5]])
    return {"weights_mb": tensor_mb(reader.model), "hf_stack_imported": hf_stack_imported()}


def stage_maxsim(state: dict) -> dict:
    from rag.rerank import get_reranker

    scorer = get_reranker("maxsim")
    scorer.score(QUESTION, ["Vite 3 brings a new docs theme.", "Rollup 3 support."])
    return {"weights_mb": tensor_mb(scorer.model), "hf_stack_imported": hf_stack_imported()}


def stage_generator(state: dict) -> dict:
    from rag.generate.base import ChatMessage
    from rag.model.generation_config import GenerationConfig

    generator = state["platform"].generator
    result = generator.generate([ChatMessage("user", QUESTION)], GenerationConfig(max_tokens=32))
    return {"weights_mb": tensor_mb(generator.model), "numba_functions": numba_functions(), "text": result.text[:40]}


STAGES: list[tuple[str, Callable[[dict], dict]]] = [
    ("import litestar and rag.platform (torch, numba, scipy, duckdb, pyarrow)", stage_import_app),
    ("open the platform (duckdb catalog)", stage_open_platform),
    ("load the embedder (two modules, one set of weights)", stage_embedder),
    ("embed the first 1,200 characters of each Vite doc, and a query", stage_embed),
    ("build and search the index (numba)", stage_index),
    ("load the span reader and read 5 passages", stage_reader),
    ("load the MaxSim scorer (support check)", stage_maxsim),
    ("load the generator and write 32 tokens", stage_generator),
]


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    rows, before = [{"stage": "python", "vmrss_mb": round(vmrss_mb(), 1)}], vmrss_mb()
    with tempfile.TemporaryDirectory(prefix="memory-stages-") as tmp:
        state: dict = {"tmp": tmp}
        for name, run in STAGES:
            facts = run(state)
            peak = vmrss_mb()
            gc.collect()
            release_free_heap()  # what the stage freed but malloc kept is counted apart from what it holds
            now = vmrss_mb()
            rows.append(
                {
                    "stage": name,
                    "vmrss_mb": round(now, 1),
                    "added_mb": round(now - before, 1),
                    "freed_by_trim_mb": round(peak - now, 1),
                    **facts,
                }
            )
            before = now
        state["platform"].close()
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
