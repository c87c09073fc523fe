"""Runners: build an index on a dataset, search it at one sweep value, save and reopen it.

One runner per family — ours (any spec of :mod:`indexes`), hnswlib, and FAISS
(HNSWFlat, IVFPQ, PQ, LSH) — all behind the same small interface so one loop
measures them alike. Cosine data is L2-normalised once for the references,
which then search by L2 or inner product (same neighbour order).
"""

from __future__ import annotations

import re
import tempfile
import time
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

import indexes
from rag.bench.datasets import Dataset
from rag.bench.metrics import dir_bytes

# Search-time parameter swept per index type, with the values tried (ascending cost).
SWEEPS: dict[str, tuple[str | None, list]] = {
    "Flat": (None, [None]),
    "HNSW": ("ef_search", [10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512]),
    "IVFPQ": ("nprobe", [1, 2, 4, 8, 16, 32, 64, 128, 256]),
    "PQ": (None, [None]),
    "LSH": ("candidates", [64, 128, 256, 512, 1024, 2048, 4096, 8192]),
    "KDTree": ("max_leaves", [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]),
}
SMOKE_SWEEPS = {"HNSW": [16, 64, 256], "IVFPQ": [1, 8, 64], "LSH": [256, 2048], "KDTree": [4, 64]}


def normalized(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=1, keepdims=True)
    n[n == 0] = 1
    return np.ascontiguousarray(x / n, dtype=np.float32)


class Runner(ABC):
    """Build once, then ``search`` per sweep value; ``save_and_open`` times a reopen."""

    family = "ours"
    param: str | None = None
    values: list = [None]
    open_mode = "mmap"  # how save_and_open reopened the index

    def __init__(self, label: str) -> None:
        self.label = label
        self.n = 0
        self.train_seconds = self.add_seconds = 0.0  # the two parts of the last build

    def _timed_build(self, index, train, database: np.ndarray) -> None:
        """Train ``index`` on ``train()`` where it needs it, then add ``database``; record both times."""
        t0 = time.perf_counter()
        if not index.is_trained:
            index.train(train())
        t1 = time.perf_counter()
        index.add(database)
        self.train_seconds, self.add_seconds = t1 - t0, time.perf_counter() - t1

    @abstractmethod
    def build(self, ds: Dataset) -> None:
        """Train (where needed) and add the dataset's database vectors."""

    @abstractmethod
    def search(self, q: np.ndarray, k: int, value) -> np.ndarray:
        """int64 (nq, k) ids for queries ``q`` with the swept parameter set to ``value``."""

    @abstractmethod
    def save_and_open(self, folder: Path) -> tuple[float, int]:
        """Save the index under ``folder``, reopen it; return (open seconds, bytes on disk)."""

    def set_threads(self, threads: int) -> None:
        """Threads used by one search call (batch mode uses all cores)."""


class OursRunner(Runner):
    family = "ours"

    def __init__(self, spec: str, smoke: bool = False) -> None:
        super().__init__(spec)
        self.spec = spec
        kind = type(indexes.create(spec, 2)).__name__
        self.kind = kind
        self.param, self.values = SWEEPS.get(kind, (None, [None]))
        if smoke and kind in SMOKE_SWEEPS:
            self.values = SMOKE_SWEEPS[kind]

    def build(self, ds: Dataset) -> None:
        self.index = indexes.create(self.spec, ds.dim, ds.metric)
        self._timed_build(self.index, ds.train_vectors, ds.database)
        self.n = ds.database.shape[0]
        if self.kind == "IVFPQ":
            nlist = getattr(self.index.config, "nlist", None)
            if nlist:
                self.values = [v for v in self.values if v <= nlist]

    def search(self, q, k, value):
        params = {self.param: value} if self.param else {}
        return self.index.search(q, k, **params).ids

    def save_and_open(self, folder: Path) -> tuple[float, int]:
        path = folder / "ours"
        self.index.save(str(path))
        t0 = time.perf_counter()
        self.index = indexes.load(str(path), mmap=True)
        return time.perf_counter() - t0, dir_bytes(path)


class HnswlibRunner(Runner):
    family = "hnswlib"
    param = "ef"
    open_mode = "read (hnswlib has no mmap load)"

    def __init__(self, m: int = 32, ef_construction: int = 200, smoke: bool = False) -> None:
        super().__init__(f"hnswlib-M{m}")
        self.m, self.ef_construction = m, ef_construction
        self.values = SMOKE_SWEEPS["HNSW"] if smoke else SWEEPS["HNSW"][1]
        self.threads = 1

    def build(self, ds: Dataset) -> None:
        import hnswlib

        space = {"cosine": "cosine", "ip": "ip", "l2": "l2"}[ds.metric]
        self.dim, self.space = ds.dim, space
        self.index = hnswlib.Index(space=space, dim=ds.dim)
        self.index.init_index(max_elements=ds.database.shape[0], M=self.m, ef_construction=self.ef_construction)
        self.index.set_num_threads(1)
        t0 = time.perf_counter()
        self.index.add_items(ds.database, np.arange(ds.database.shape[0]))
        self.train_seconds, self.add_seconds = 0.0, time.perf_counter() - t0
        self.n = ds.database.shape[0]

    def set_threads(self, threads: int) -> None:
        self.threads = threads

    def search(self, q, k, value):
        self.index.set_ef(max(value, k))
        labels, _ = self.index.knn_query(q, k=k, num_threads=self.threads)
        return labels.astype(np.int64)

    def save_and_open(self, folder: Path) -> tuple[float, int]:
        import hnswlib

        path = folder / "hnswlib.bin"
        self.index.save_index(str(path))
        t0 = time.perf_counter()
        index = hnswlib.Index(space=self.space, dim=self.dim)
        index.load_index(str(path), max_elements=self.n)
        elapsed = time.perf_counter() - t0
        index.set_num_threads(1)
        self.index = index
        return elapsed, path.stat().st_size


class FaissRunner(Runner):
    """A FAISS index from a factory string; LSH uses ``IndexLSH(d, nbits)``.

    Args:
        ef_construction: efConstruction of an HNSW factory (None: FAISS's default, 40).
        polysemous: leave on the polysemous training the factory turns on for IVF-PQ
            (it reorders codes for a Hamming pre-filter that ``polysemous_ht`` = 0 never uses).
    """

    family = "faiss"

    def __init__(
        self, factory: str, smoke: bool = False, ef_construction: int | None = None, polysemous: bool = True
    ) -> None:
        super().__init__(f"faiss-{factory}")
        self.factory = factory
        self.ef_construction, self.polysemous = ef_construction, polysemous
        if factory.startswith("HNSW"):
            self.param, self.values = "efSearch", SMOKE_SWEEPS["HNSW"] if smoke else SWEEPS["HNSW"][1]
        elif factory.startswith("IVF"):
            self.param, self.values = "nprobe", SMOKE_SWEEPS["IVFPQ"] if smoke else SWEEPS["IVFPQ"][1]
        else:
            self.param, self.values = None, [None]

    def build(self, ds: Dataset) -> None:
        import faiss

        faiss.omp_set_num_threads(1)
        cosine = ds.metric == "cosine"
        db = normalized(ds.database) if cosine else ds.database
        metric = faiss.METRIC_INNER_PRODUCT if ds.metric == "ip" else faiss.METRIC_L2
        if m := re.fullmatch(r"LSH(\d+)", self.factory):
            self.index = faiss.IndexLSH(ds.dim, int(m.group(1)))
        else:
            self.index = faiss.index_factory(ds.dim, self.factory, metric)
        if self.ef_construction is not None:
            self.index.hnsw.efConstruction = self.ef_construction
        if not self.polysemous:
            faiss.downcast_index(self.index).do_polysemous_training = False
        self._timed_build(self.index, lambda: normalized(ds.train_vectors()) if cosine else ds.train_vectors(), db)
        self.metric, self.n = ds.metric, ds.database.shape[0]
        if self.factory.startswith("IVF"):
            self.values = [v for v in self.values if v <= self.index.nlist]

    def set_threads(self, threads: int) -> None:
        import faiss

        faiss.omp_set_num_threads(threads)

    def search(self, q, k, value):
        import faiss

        if self.param == "efSearch":
            self.index.hnsw.efSearch = max(value, k)
        elif self.param == "nprobe":
            faiss.extract_index_ivf(self.index).nprobe = value
        qq = normalized(q) if self.metric == "cosine" else q
        _, ids = self.index.search(qq, k)
        return ids.astype(np.int64)

    def save_and_open(self, folder: Path) -> tuple[float, int]:
        import faiss

        path = folder / "faiss.index"
        faiss.write_index(self.index, str(path))
        t0 = time.perf_counter()
        try:
            self.index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
            self.open_mode = "mmap"
        except RuntimeError:  # not every FAISS type can be memory-mapped
            self.index = faiss.read_index(str(path))
            self.open_mode = "read (FAISS cannot mmap this type)"
        return time.perf_counter() - t0, path.stat().st_size


def baseline_runners(baselines: list[str], specs: list[str], smoke: bool = False) -> list[Runner]:
    """Reference runners matching our specs: hnswlib for HNSW, FAISS for each of our types.

    A smoke run builds FAISS's PQ indexes without polysemous training: it changes no
    search result (``polysemous_ht`` stays 0) and took about 40 of the smoke run's 67 CPU seconds.
    """
    out: list[Runner] = []
    for name in baselines:
        if name == "hnswlib":
            ms = sorted({int(m.group(1)) for s in specs if (m := re.fullmatch(r"HNSW(\d+)", s))}) or [32]
            out.extend(HnswlibRunner(m, smoke=smoke) for m in ms)
        elif name == "faiss":
            factories = []
            for s in specs:
                if m := re.fullmatch(r"HNSW(\d+)", s):
                    factories.append(f"HNSW{m.group(1)},Flat")
                elif (
                    re.fullmatch(r"IVF\d+,PQ\d+x\d+", s) or re.fullmatch(r"PQ\d+x\d+", s) or re.fullmatch(r"LSH\d+", s)
                ):
                    factories.append(s)
            for f in dict.fromkeys(factories):
                out.append(FaissRunner(f, smoke=smoke, polysemous=not (smoke and "PQ" in f)))
        else:
            raise ValueError(f"unknown baseline {name!r}; use hnswlib and/or faiss")
    return out


def temp_folder() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="ann-bench-")
