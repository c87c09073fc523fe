"""The benchmark library's own arithmetic (the runs themselves are not unit tests)."""

from __future__ import annotations

import numpy as np

from rag.bench.ann import summarize
from rag.bench.datasets import exact_groundtruth, read_vecs, synthetic
from rag.bench.metrics import percentiles, recall_at
from rag.bench.plot import pareto
from tests.conftest import shared_path


def test_recall_at_counts_set_overlap_and_ignores_padding():
    truth = np.array([[1, 2, 3], [4, 5, 6]])
    found = np.array([[3, 9, 1], [-1, -1, 4]])
    assert recall_at(found, truth, 3) == (2 + 1) / 6
    assert recall_at(found, truth, 1) == 0.0


def test_percentiles_in_ms():
    p = percentiles([0.001] * 99 + [0.1])
    assert abs(p["p50_ms"] - 1.0) < 1e-9 and p["p99_ms"] > 1.0


def test_pareto_keeps_only_undominated_points():
    pts = [(0.5, 100.0), (0.6, 50.0), (0.55, 20.0), (0.9, 10.0), (0.9, 5.0)]
    assert pareto(pts) == [(0.5, 100.0), (0.6, 50.0), (0.9, 10.0)]


def test_summary_picks_fastest_run_meeting_each_target():
    rows = [
        {
            "index": "A",
            "mode": "single",
            "recall@10": r,
            "qps": q,
            "param": "ef",
            "value": v,
            "build_s": 1,
            "bytes_per_vector": 10,
            "open_ms": 1,
        }
        for r, q, v in [(0.8, 900, 8), (0.92, 500, 16), (0.97, 200, 64)]
    ]
    (s,) = summarize(rows)
    assert s["qps@0.9"] == 500 and s["param@0.9"] == "ef=16" and s["qps@0.95"] == 200


def test_glove_files_match_their_groundtruth():
    root = shared_path("glove50-angular")
    db = read_vecs(root / "glove50_10k_base.fvecs", "float32")
    q = read_vecs(root / "glove50_10k_query.fvecs", "float32")
    gt = read_vecs(root / "glove50_10k_groundtruth.ivecs", "int32")
    assert db.shape == (10000, 50) and q.shape == (100, 50) and gt.shape == (100, 100)
    ours = exact_groundtruth(db, q, 10)
    assert recall_at(ours, gt.astype(np.int64), 10) > 0.999


def test_synthetic_dataset_has_exact_groundtruth():
    ds = synthetic(2000, dim=16, n_queries=20)
    assert ds.database.shape == (2000, 16) and ds.groundtruth.shape == (20, 100)
