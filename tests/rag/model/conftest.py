"""One loaded model per quantization mode per session, and the transformers reference when available."""

from __future__ import annotations

import os

import pytest

_MODELS: dict[str, tuple] = {}


@pytest.fixture(scope="session")
def gguf_path() -> str:
    from core.errors import MissingDependencyError
    from rag.model import default_gguf_path

    try:
        return default_gguf_path()
    except MissingDependencyError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def load(gguf_path):
    """load(quant) -> (model, tokenizer), each mode loaded once per session.

    One thread while these tests run: results do not depend on the thread
    count, and a single thread does not stall when the machine's other core is
    busy. The previous counts are restored at the end of the session.
    """
    import numba
    import torch

    before = torch.get_num_threads(), numba.get_num_threads()
    torch.set_num_threads(1)
    numba.set_num_threads(1)

    def get(quant: str):
        if quant not in _MODELS:
            from rag.model import load_gguf

            _MODELS[quant] = load_gguf(gguf_path, quant)
        return _MODELS[quant]

    yield get
    torch.set_num_threads(before[0])
    numba.set_num_threads(before[1])


@pytest.fixture(scope="session")
def tokenizer(load):
    return load("int4")[1]


@pytest.fixture(scope="session")
def hf_dir(gguf_path) -> tuple[str, str]:
    pytest.importorskip("transformers")
    return os.path.dirname(gguf_path), os.path.basename(gguf_path)


@pytest.fixture(scope="session")
def torch_generator(gguf_path):
    from rag.generate import shared_generator

    return shared_generator("torch", gguf_path, "int4", 1)


@pytest.fixture(scope="session")
def ppl_text() -> str:
    """A fixed English text for perplexity (written for these tests)."""
    return PPL_TEXT


@pytest.fixture(scope="session")
def rag_prompts() -> list[str]:
    """Prompts whose answers quote the prompt, like answers grounded in retrieved passages."""
    return RAG_PROMPTS


PPL_TEXT = (
    "The river flows from the mountains to the sea. In spring the snow melts and the water rises, "
    "carrying soil and stones down the valley. Farmers along its banks plant wheat and barley in the "
    "rich ground the floods leave behind. In summer the river is slow and warm, and children swim in "
    "its pools while their parents fish from the old stone bridge. By autumn the fields are harvested, "
    "the grain is stored in barns, and the markets in the town are full of bread, apples and cheese. "
    "Winter brings cold winds from the north; the river freezes at its edges, and the village waits "
    "for the light to return."
)

RAG_PROMPTS = [
    "Context: The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. "
    "It is named after the engineer Gustave Eiffel, whose company designed and built the tower from 1887 "
    "to 1889.\n\nQuestion: Who is the Eiffel Tower named after? Quote the context.",
    "Passage: Photosynthesis is the process by which green plants use sunlight, water and carbon dioxide "
    "to produce glucose and oxygen. It takes place mainly in the chloroplasts of leaf cells.\n\n"
    "Question: Where does photosynthesis take place? Answer using the passage.",
    "Document: def add(a, b):\n    return a + b\n\ndef sub(a, b):\n    return a - b\n\n"
    "Task: repeat the function add exactly.",
]
