"""The reranker contract and the registry of named rerankers.

A reranker scores passages against one query; a pipeline stage reorders its
candidates by those scores. Rerankers are looked up by name with
:func:`get_reranker`, which builds each at most once per process (models are
large and their loading slow) and raises on names it does not know.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from core.errors import ConfigError

# ``rerank: true`` means MaxSim: it needs no training and improved the fused first stage on
# SciFact test (0.723 -> 0.735 nDCG@10) and on XQuAD (0.964 -> 0.986), where the cross-encoder
# we trained on SciFact train lost ground on both (0.709; 0.885): see benchmarks/README.md.
DEFAULT_RERANKER = "maxsim"


@runtime_checkable
class Reranker(Protocol):
    """Scores passages for relevance to a query.

    Attributes:
        name: the registry name.
    """

    name: str

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        """Relevance of each passage to ``query``.

        Args:
            query: the user's question or claim.
            passages: candidate texts (any number, possibly none).

        Returns:
            float32 (len(passages),); higher is more relevant. Scores compare
            within one call only: they are not probabilities.
        """
        ...


def _minilm_scifact() -> Reranker:
    from rag.rerank.cross_encoder import CrossEncoderReranker

    return CrossEncoderReranker.from_weights(name="minilm-scifact")


def _maxsim() -> Reranker:
    from rag.rerank.maxsim import MaxSimReranker

    return MaxSimReranker()


RERANKERS: dict[str, Callable[[], Reranker]] = {
    "minilm-scifact": _minilm_scifact,  # MiniLM cross-encoder fine-tuned on SciFact train (rag.training.rerank)
    "maxsim": _maxsim,  # zero-shot late interaction over MiniLM token vectors
}

_loaded: dict[str, Reranker] = {}
_lock = threading.Lock()


def get_reranker(name: str = DEFAULT_RERANKER) -> Reranker:
    """The reranker registered as ``name``, built on first use and shared by the process.

    Raises:
        ConfigError: ``name`` is not registered.
        MissingDependencyError: its model or weight files are not installed.
    """
    if name not in RERANKERS:
        raise ConfigError(f"unknown reranker {name!r}: choose one of {', '.join(sorted(RERANKERS))}")
    with _lock:  # one load per name even when several requests arrive at once
        if name not in _loaded:
            _loaded[name] = RERANKERS[name]()
        return _loaded[name]
