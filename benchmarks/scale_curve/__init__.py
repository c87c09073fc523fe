"""The ANN scale curve: build time, bytes/vector, peak RSS, open time and QPS@R0.9 against N.

Two steps. **Run** one index on one synthetic dataset in its own process, so its
peak RSS is its own (the ANN runner of :mod:`rag.bench.ann` keeps every index
of a run alive, so later indexes would carry the earlier ones in their RSS)::

    python -m benchmarks.scale_curve --run synthetic-100000-d96 --index HNSW32 --results benchmarks/results/scale

It measures with :func:`rag.bench.ann.measure` (build, save, mmap reopen, the
one-thread one-query-per-call sweep) and writes
``RESULTS/<dataset>/<index>/results.jsonl`` and ``summary.json``. The vectors and
exact ground truth of each dataset are cached under ``--cache`` (``.npy``) so the
runs of one N share them. **Summarise** every run found under ``--results``::

    python -m benchmarks.scale_curve --results benchmarks/results/scale --out benchmarks/results/scale-curve

writes ``<out>-summary.json`` (one row per index, dimension and N) and
``<out>.png``/``.svg`` (four panels against N).

Indexes (``--index``): ``HNSW32`` and ``IVFPQ`` (ours: ``IVF{nlist},PQ48x8``),
``hnswlib-M32`` (M=32, ef_construction=200), ``faiss-HNSW32`` (``HNSW32,Flat`` with
efConstruction=200, as ours and hnswlib; the shared ANN runner leaves FAISS's
default of 40), ``faiss-HNSW32-efC40`` (the shared runner's FAISS HNSW as is) and
``faiss-IVFPQ`` (``IVF{nlist},PQ48x8`` without polysemous training: the factory turns
it on, it reorders the PQ codes for Hamming pre-filtering that the search here never
uses (``polysemous_ht`` = 0), and it is most of FAISS's build time at 10k-100k; ours
has no such step), ``faiss-IVFPQ-poly`` (the factory's default, as the shared runner
builds it). ``nlist`` is 4096 where N >= 39 x 4096
(FAISS's minimum of 39 training points per centroid; the database is the training
set), below that the largest power of two <= 4 sqrt(N): 256 at 10k, 1024 at 100k.
Builds run on one thread for every library.

Where a build takes tens of minutes (1M x 384), :mod:`benchmarks.scale_curve.saved`
builds each library's graph once, saves it, and sweeps the saved graphs in one
process with the indexes' passes alternating (recall targets 0.9 and 0.95).
"""

from benchmarks.scale_curve.config import INDEXES
from benchmarks.scale_curve.report import summarise
from benchmarks.scale_curve.run import run_one

__all__ = ["INDEXES", "run_one", "summarise"]
