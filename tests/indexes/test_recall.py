"""Recall@10 against exact search, with thresholds measured on this code and written down here.

GloVe-50 10k (100 queries, exact cosine top-100 in the data set) is the main
set; clustered synthetic 384-d data stands in for sentence embeddings, and a
slow test uses real all-MiniLM-L6-v2 embeddings of SciFact titles.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.errors import MissingDependencyError
from tests.indexes.conftest import build, clustered, recall_at

# (spec, search params, measured recall@10, asserted floor). Measured on GloVe-50 10k, cosine.
GLOVE_CASES = [
    ("LSH256", {}, 0.997, 0.97),  # probes=16, candidates=256
    ("LSH256", {"probes": 4, "candidates": 64}, 0.930, 0.90),
    ("KD32", {"max_leaves": 64}, 0.844, 0.80),
    ("KD32", {"max_leaves": 256}, 0.993, 0.97),
    ("PQ10x8", {}, 0.710, 0.68),
    # IVF-PQ re-measured with the 10-iteration coarse k-means and PQ trained on its sample's residuals
    # (were 0.755 and 0.987 with 20 iterations; 0.906 and 0.982 below).
    ("IVF64,PQ10x8", {"nprobe": 16}, 0.768, 0.72),
    ("IVF64,PQ10x8,RFlat", {"nprobe": 16, "rerank": 200}, 0.986, 0.96),
    ("HNSW32", {"ef_search": 16}, 0.957, 0.93),
    ("HNSW32", {"ef_search": 32}, 0.992, 0.95),  # the stated HNSW operating point: >= 0.95 at ef_search=32
    ("HNSW32", {"ef_search": 64}, 0.999, 0.98),
]


@pytest.fixture(scope="module")
def glove_indexes(glove10k):
    base, _, _ = glove10k
    return {spec: build(spec, base) for spec in sorted({case[0] for case in GLOVE_CASES} | {"KD32"})}


@pytest.mark.parametrize(("spec", "params", "measured", "floor"), GLOVE_CASES)
def test_glove_recall(spec, params, measured, floor, glove10k, glove_indexes):
    _, queries, truth = glove10k
    got = recall_at(glove_indexes[spec].search(queries, 10, **params).ids, truth)
    assert got >= floor, f"{spec} {params}: recall@10 {got:.3f} (measured {measured})"


def test_kd_unbounded_is_exact(glove10k, glove_indexes):
    base, queries, truth = glove10k
    res = glove_indexes["KD32"].search(queries, 10)
    assert recall_at(res.ids, truth) == 1.0
    flat = build("Flat", base).search(queries, 10)
    np.testing.assert_array_equal(res.ids, flat.ids)
    np.testing.assert_allclose(res.scores, flat.scores, atol=1e-5)


def test_budgets_trade_recall_monotonically(glove10k, glove_indexes):
    _, queries, truth = glove10k

    def curve(spec, name, values):
        return [recall_at(glove_indexes[spec].search(queries, 10, **{name: v}).ids, truth) for v in values]

    for spec, name, values in [
        ("HNSW32", "ef_search", [10, 20, 40, 80]),
        ("KD32", "max_leaves", [8, 32, 128, 512]),
        ("IVF64,PQ10x8", "nprobe", [1, 4, 16, 64]),
        ("LSH256", "probes", [1, 4, 16, 64]),
    ]:
        got = curve(spec, name, values)
        assert all(b >= a - 0.01 for a, b in zip(got, got[1:])), f"{spec} {name}: {got}"


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_glove_other_metrics(metric, glove10k):
    base, queries, _ = glove10k
    truth = build("Flat", base, metric).search(queries, 10).ids
    for spec, params, floor in [
        ("HNSW32", {"ef_search": 64}, 0.95),
        ("KD32", {}, 1.0),
        ("IVF64,PQ10x8,RFlat", {"nprobe": 16}, 0.9),
    ]:
        got = recall_at(build(spec, base, metric).search(queries, 10, **params).ids, truth)
        assert got >= floor, f"{spec} {metric}: {got:.3f}"


# Clustered synthetic 384-d data (4000 vectors, 50 queries), cosine; measured recall@10, floor.
SYNTHETIC_CASES = [
    ("HNSW32", {"ef_search": 32}, 1.000, 0.97),
    ("LSH256", {}, 1.000, 0.97),
    ("KD32", {"max_leaves": 32}, 0.952, 0.92),
    ("PQ48x6", {}, 0.914, 0.88),
    ("IVF32,PQ48x6", {"nprobe": 4}, 0.902, 0.87),
    ("IVF32,PQ48x6,RFlat", {"nprobe": 4}, 0.990, 0.95),
]


@pytest.fixture(scope="module")
def embeddings_like():
    points = clustered(4050, 384, clusters=40, seed=1)
    base, queries = points[:4000], points[4000:]
    return base, queries, build("Flat", base).search(queries, 10).ids


@pytest.mark.parametrize(("spec", "params", "measured", "floor"), SYNTHETIC_CASES)
def test_synthetic_384d_recall(spec, params, measured, floor, embeddings_like):
    base, queries, truth = embeddings_like
    got = recall_at(build(spec, base).search(queries, 10, **params).ids, truth)
    assert got >= floor, f"{spec} {params}: recall@10 {got:.3f} (measured {measured})"


@pytest.mark.slow
def test_minilm_scifact_recall():
    """Real sentence embeddings: 1500 SciFact titles and 150 claims through all-MiniLM-L6-v2."""
    from tests.indexes.conftest import GLOVE

    scifact = GLOVE.parent / "scifact"
    if not scifact.is_dir():
        pytest.skip(f"SciFact not found at {scifact}")
    embed_mod = pytest.importorskip("ingest.embed")
    try:
        embedder = embed_mod.Embedder(batch_size=64)
    except MissingDependencyError as exc:
        pytest.skip(str(exc))
    with open(scifact / "corpus.jsonl", encoding="utf-8") as fh:
        titles = [json.loads(line)["title"] for _, line in zip(range(1500), fh)]
    with open(scifact / "queries.jsonl", encoding="utf-8") as fh:
        claims = [json.loads(line)["text"] for _, line in zip(range(150), fh)]
    base, queries = embedder.embed(titles), embedder.embed(claims)
    truth = build("Flat", base).search(queries, 10).ids
    # (spec, params, measured recall@10, floor)
    for spec, params, measured, floor in [
        ("HNSW32", {"ef_search": 32}, 0.990, 0.95),
        ("LSH256", {}, 0.970, 0.93),
        ("KD32", {}, 1.0, 1.0),
        ("KD32", {"max_leaves": 32}, 0.838, 0.80),
        ("PQ48x6", {}, 0.727, 0.69),
        ("IVF16,PQ48x6,RFlat", {"nprobe": 8}, 0.955, 0.92),
    ]:
        got = recall_at(build(spec, base).search(queries, 10, **params).ids, truth)
        assert got >= floor, f"{spec} {params}: recall@10 {got:.3f} on MiniLM embeddings (measured {measured})"
