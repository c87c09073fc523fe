"""ANN benchmark datasets behind one small interface (train / database / queries / ground truth).

* ``glove50-10k`` and ``glove50-100k``: real GloVe vectors with exact cosine
  top-100 ground truth, read from ``../shared/data/glove50-angular`` (fvecs/ivecs).
* ``scifact-minilm``: MiniLM embeddings of the BEIR SciFact corpus and queries,
  computed once and cached under the data dir; ground truth by exact search.
* ``synthetic-N`` (e.g. ``synthetic-1000000``): a clustered Gaussian mixture of
  N vectors (384-d unless ``synthetic-N-dD``), for scaling curves.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("RAG_SHARED_DATA", REPO.parent / "shared" / "data"))
NAMES = ("glove50-10k", "glove50-100k", "scifact-minilm", "synthetic-N[-dD]")


@dataclass
class Dataset:
    """Vectors and exact neighbours of one benchmark set.

    Attributes:
        train: float32 (n_train, d) vectors for index types that learn (the database itself when none is separate).
        database: float32 (n, d).
        queries: float32 (nq, d).
        groundtruth: int64 (nq, >=100) exact neighbour row ids, nearest first.
        metric: "cosine", "ip" or "l2".
    """

    name: str
    database: np.ndarray
    queries: np.ndarray
    groundtruth: np.ndarray
    metric: str = "cosine"
    train: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return int(self.database.shape[1])

    def train_vectors(self) -> np.ndarray:
        return self.database if self.train is None else self.train


def read_vecs(path: Path, dtype: str) -> np.ndarray:
    """Read texmex .fvecs (dtype float32) or .ivecs (int32): per row an int32 dim then the values."""
    raw = np.fromfile(path, dtype=np.int32)
    if raw.size == 0:
        return np.empty((0, 0), dtype=dtype)
    dim = int(raw[0])
    rows = raw.reshape(-1, dim + 1)
    if not (rows[:, 0] == dim).all():
        raise ValueError(f"{path} is not a valid vecs file (rows of different dimension)")
    return rows[:, 1:].copy().view(dtype)


def exact_groundtruth(database: np.ndarray, queries: np.ndarray, k: int = 100, metric: str = "cosine") -> np.ndarray:
    """Exact top-k row ids by brute force (our Flat index), int64 (nq, k)."""
    import indexes

    flat = indexes.create("Flat", database.shape[1], metric)
    flat.add(database)
    return flat.search(queries, min(k, database.shape[0])).ids


def glove(size: str) -> Dataset:
    root = SHARED_DATA / "glove50-angular"
    base = root / f"glove50_{size}_base.fvecs"
    if not base.is_file():
        raise FileNotFoundError(f"{base} is missing: the GloVe sets live in ../shared/data/glove50-angular")
    db = read_vecs(base, "float32")
    queries = read_vecs(root / f"glove50_{size}_query.fvecs", "float32")
    gt = read_vecs(root / f"glove50_{size}_groundtruth.ivecs", "int32").astype(np.int64)
    return Dataset(f"glove50-{size}", db, queries, gt, "cosine", info={"source": str(root)})


def scifact_minilm(cache_dir: Path, max_docs: int | None = None) -> Dataset:
    """SciFact corpus and queries embedded with MiniLM (cached as .npy under ``cache_dir``)."""
    root = SHARED_DATA / "scifact"
    cache_dir.mkdir(parents=True, exist_ok=True)
    db_path, q_path = cache_dir / "scifact-minilm-corpus.npy", cache_dir / "scifact-minilm-queries.npy"
    if not db_path.is_file() or not q_path.is_file():
        from ingest.embed import shared_embedder

        embedder = shared_embedder(64)
        docs = [json.loads(line) for line in (root / "corpus.jsonl").open(encoding="utf-8")]
        queries = [json.loads(line) for line in (root / "queries.jsonl").open(encoding="utf-8")]
        np.save(db_path, embedder.embed([f"{d.get('title', '')}\n\n{d['text']}" for d in docs]))
        np.save(q_path, embedder.embed([q["text"] for q in queries]))
    db = np.load(db_path)
    if max_docs:
        db = db[:max_docs]
    queries = np.load(q_path)
    return Dataset(
        "scifact-minilm",
        db,
        queries,
        exact_groundtruth(db, queries),
        "cosine",
        info={"source": str(root), "cache": str(cache_dir)},
    )


def synthetic(n: int, dim: int = 384, n_queries: int = 1000, n_clusters: int | None = None, seed: int = 7) -> Dataset:
    """A clustered Gaussian mixture: clusters of varying spread, like real embeddings."""
    rng = np.random.default_rng(seed)
    n_clusters = n_clusters or max(16, int(np.sqrt(n)))
    centers = rng.normal(size=(n_clusters, dim)).astype(np.float32)
    spread = rng.uniform(0.3, 1.0, size=n_clusters).astype(np.float32)

    def draw(count: int) -> np.ndarray:
        out = np.empty((count, dim), dtype=np.float32)
        for start in range(0, count, 100_000):
            m = min(100_000, count - start)
            c = rng.integers(0, n_clusters, size=m)
            out[start : start + m] = centers[c] + spread[c, None] * rng.normal(size=(m, dim)).astype(np.float32)
        return out

    db, queries = draw(n), draw(n_queries)
    return Dataset(
        f"synthetic-{n}-d{dim}",
        db,
        queries,
        exact_groundtruth(db, queries),
        "cosine",
        info={"clusters": n_clusters, "seed": seed},
    )


def load_dataset(name: str, cache_dir: Path | None = None, smoke: bool = False) -> Dataset:
    """Load a dataset by name (see ``NAMES``); ``smoke`` keeps only a few queries."""
    if name in ("glove50-10k", "glove50-100k"):
        ds = glove(name.split("-")[1])
    elif name == "scifact-minilm":
        ds = scifact_minilm(cache_dir or Path("data") / "bench-cache")
    elif m := re.fullmatch(r"synthetic-(\d+)(?:-d(\d+))?", name):
        ds = synthetic(int(m.group(1)), int(m.group(2) or 384), n_queries=100 if smoke else 1000)
    else:
        raise ValueError(f"unknown dataset {name!r}; use one of: {', '.join(NAMES)}")
    if smoke and ds.queries.shape[0] > 100:
        ds.queries, ds.groundtruth = ds.queries[:100], ds.groundtruth[:100]
    return ds
