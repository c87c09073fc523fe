"""The RETRO retrofit's data and evaluation (:mod:`rag.model.retro` is the model): the retrieval
database (:mod:`data`), the recipe (:mod:`recipe`), the cached database's batches and losses
(:mod:`batches`) and the perplexity evaluation (:mod:`evaluate`). The training run is
:mod:`rag.training.retro`; the trained weights ship in ``weights/``."""

from pathlib import Path

DEFAULT_WEIGHTS = Path(__file__).parent / "weights" / "retro-scifact"  # stem: .safetensors + .json
