"""Training and evaluating the RETRO retrofit (:mod:`rag.model.retro`): the retrieval database
(:mod:`data`), the recipe (:mod:`recipe`), the training run (:mod:`train`) and the perplexity
evaluation (:mod:`evaluate`). The trained weights ship in ``weights/``."""

from pathlib import Path

DEFAULT_WEIGHTS = Path(__file__).parent / "weights" / "retro-scifact"  # stem: .safetensors + .json
