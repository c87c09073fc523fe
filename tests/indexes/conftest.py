"""Shared data and helpers of the index tests: the GloVe sets, clustered synthetic data, recall."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

# The shared data lives beside the repository: <root>/../shared/data/glove50-angular.
GLOVE = Path(__file__).resolve().parents[2].parent / "shared/data/glove50-angular"
GOLDEN = Path(__file__).resolve().parents[1] / "fixtures/indexes"

# One spec per index type (and both IVF-PQ variants): the conformance suite runs over all of them.
SPECS = ["Flat", "LSH128", "KD16", "PQ8x4", "IVF8,PQ8x4", "IVF8,PQ8x4,RFlat", "HNSW8"]


def read_vecs(path: Path, dtype: str) -> np.ndarray:
    """Read a texmex .fvecs / .ivecs file: per row an int32 dimension, then the values."""
    raw = np.fromfile(path, dtype=np.int32)
    dim = int(raw[0])
    return raw.reshape(-1, dim + 1)[:, 1:].copy().view(dtype)


@pytest.fixture(scope="session")
def glove10k() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GloVe-50 10k base (10000, 50), 100 queries (100, 50), exact cosine top-100 ids (100, 100)."""
    if not GLOVE.is_dir():
        pytest.skip(f"GloVe data not found at {GLOVE}; lay out ../shared beside the repository to run this")
    base = read_vecs(GLOVE / "glove50_10k_base.fvecs", "float32")
    queries = read_vecs(GLOVE / "glove50_10k_query.fvecs", "float32")
    truth = read_vecs(GLOVE / "glove50_10k_groundtruth.ivecs", "int32").astype(np.int64)
    return base, queries, truth


def clustered(n: int, dim: int, *, clusters: int = 50, intrinsic: int = 16, seed: int = 0) -> np.ndarray:
    """float32 (n, dim) points shaped like text embeddings: nested topics of low intrinsic dimension.

    Each topic is a random unit centre with a random ``intrinsic``-dimensional
    subspace; sub-topics are offsets within that subspace and points scatter
    around their sub-topic, plus a little isotropic noise. Real sentence
    embeddings are similarly anisotropic and multi-scale (isotropic 384-d noise
    would make every neighbour equally far).
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    bases = rng.normal(size=(clusters, intrinsic, dim)) / np.sqrt(dim)
    subtopics = rng.normal(size=(clusters, 8, intrinsic)) * 0.6
    topic = rng.integers(0, clusters, n)
    sub = rng.integers(0, 8, n)
    coeffs = subtopics[topic, sub] + rng.normal(size=(n, intrinsic)) * 0.45
    cloud = np.einsum("ni,nid->nd", coeffs, bases[topic])
    noise = rng.normal(size=(n, dim)) * 0.02 / np.sqrt(dim)
    return (centres[topic] + cloud + noise).astype(np.float32)


def recall_at(found: np.ndarray, truth: np.ndarray, k: int = 10) -> float:
    """Mean fraction of the true top-k ids found in each row of ``found`` (n, >= k)."""
    hits = [len(np.intersect1d(f[:k], t[:k])) for f, t in zip(found, truth, strict=True)]
    return float(np.mean(hits)) / k


def build(spec: str, x: np.ndarray, metric: str = "cosine", ids: np.ndarray | None = None):
    """An index of ``spec`` trained (where needed) and filled with ``x``."""
    import indexes

    index = indexes.create(spec, x.shape[1], metric)
    index.train(x)
    index.add(x, ids)
    return index
