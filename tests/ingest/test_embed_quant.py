"""Embedder kinds: RAG_EMBED_QUANT / quant= select them, the fast kind stays close to fp32, names differ."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import ConfigError
from ingest.embed import KINDS, QUANT_ENV, Embedder, embedder_for, kind_of, resolve_kind, shared_embedder

TEXTS = [
    "Graph-based nearest neighbour search builds a navigable small-world graph over the vectors.",
    "Vitamin D supplementation did not reduce the incidence of fractures in older adults.",
    "The mitochondria is the powerhouse of the cell.",
    "a short query",
    "",
]


def test_fp32_from_the_environment(monkeypatch):
    monkeypatch.setenv(QUANT_ENV, "fp32")
    assert resolve_kind() == "fp32"
    monkeypatch.setenv(QUANT_ENV, " BF16 ")
    assert resolve_kind() == "bf16"
    assert resolve_kind("fp32") == "fp32"  # the argument wins over the environment


def test_auto_is_the_default_and_picks_a_known_kind(monkeypatch):
    monkeypatch.delenv(QUANT_ENV, raising=False)
    assert resolve_kind() == resolve_kind("auto") in KINDS


@pytest.mark.parametrize("bad", ["int4", "fp16x", "8bit"])
def test_an_unknown_kind_is_refused_naming_the_allowed_ones(monkeypatch, bad):
    with pytest.raises(ConfigError, match="auto, bf16, fp32"):
        resolve_kind(bad)
    monkeypatch.setenv(QUANT_ENV, bad)
    with pytest.raises(ValueError, match=QUANT_ENV):
        Embedder(quant=None)  # raised before any model is loaded


@pytest.fixture(scope="module")
def pair():
    return shared_embedder(32, quant="fp32"), shared_embedder(32, quant="bf16")


@pytest.mark.slow
def test_model_name_differs_by_kind(pair):
    fp32, fast = pair
    assert (fp32.kind, fast.kind) == ("fp32", "bf16")
    assert fp32.model_name == "all-MiniLM-L6-v2"
    assert fast.model_name == "all-MiniLM-L6-v2@bf16"
    assert shared_embedder(32, quant="fp32") is fp32  # cached per kind
    assert fp32.dim == fast.dim == 384


@pytest.mark.slow
def test_fast_vectors_stay_close_to_fp32(pair):
    fp32, fast = pair
    ref, got = fp32.embed(TEXTS), fast.embed(TEXTS)
    assert got.dtype == np.float32 and got.shape == ref.shape
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cos = (ref * got).sum(1)
    assert cos.min() > 0.999, cos


@pytest.mark.slow
def test_queries_use_the_same_kind_as_passages(pair):
    fp32, fast = pair
    assert all(q is p for q, p in zip(fast._query_model.parameters(), fast.model.parameters()))
    assert next(fast._query_model.parameters()).dtype == next(fast.model.parameters()).dtype
    q = fast.embed_queries(TEXTS[:3])
    cos = (q * fast.embed(TEXTS[:3])).sum(1)
    assert cos.min() > 0.9995  # the same weights; bf16 rounding differs a little with the thread count
    assert (q * fp32.embed_queries(TEXTS[:3])).sum(1).min() > 0.999


@pytest.mark.slow
def test_order_is_restored_after_sorting_by_length(pair):
    fp32, _ = pair
    texts = ["short", "a much longer passage " * 20, "medium length text here", ""]
    together = fp32.embed(texts)
    alone = np.stack([fp32.embed([t])[0] for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_a_model_name_maps_back_to_its_kind():
    assert kind_of("all-MiniLM-L6-v2") == "fp32"  # collections written before kinds existed
    assert kind_of("all-MiniLM-L6-v2@bf16") == "bf16"
    for bad in ("all-MiniLM-L6-v2@int3", "bge-small@bf16", ""):
        with pytest.raises(ConfigError):
            kind_of(bad)


@pytest.mark.slow
def test_embedder_for_a_model_name_is_the_shared_one_of_that_kind(pair):
    fp32, fast = pair
    assert embedder_for(fast.model_name) is fast
    assert embedder_for(fp32.model_name) is fp32
