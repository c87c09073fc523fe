"""The registry: names, lazy shared loading, and errors that say what to do."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from core.errors import ConfigError, MissingDependencyError
from rag.rerank import base
from rag.rerank.base import DEFAULT_RERANKER, RERANKERS, Reranker, get_reranker


def test_unknown_name_raises_config_error_listing_the_choices():
    with pytest.raises(ConfigError) as info:
        get_reranker("bm25-rerank")
    for name in RERANKERS:
        assert name in str(info.value)


def test_the_default_is_registered():
    assert DEFAULT_RERANKER == "maxsim"  # the one that helped on both evaluation sets (benchmarks/README.md)
    assert {"minilm-scifact", "maxsim"} <= set(RERANKERS)


class _Constant:
    name = "constant"

    def score(self, query, passages):
        return np.zeros(len(passages), dtype=np.float32)


def test_a_reranker_is_built_once_even_under_concurrent_calls(monkeypatch):
    calls = []

    def build():
        calls.append(1)
        return _Constant()

    monkeypatch.setitem(RERANKERS, "constant", build)
    monkeypatch.setattr(base, "_loaded", {})
    got = []
    threads = [threading.Thread(target=lambda: got.append(get_reranker("constant"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and all(r is got[0] for r in got)
    assert isinstance(got[0], Reranker)


def test_missing_weights_say_what_to_run(tmp_path):
    from rag.rerank.cross_encoder import CrossEncoderReranker

    with pytest.raises(MissingDependencyError, match="python -m rag.training.rerank"):
        CrossEncoderReranker.from_weights(tmp_path / "nothing-here")
