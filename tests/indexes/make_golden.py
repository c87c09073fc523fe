"""Regenerate the golden saved-index fixtures in tests/fixtures/indexes/ (only when the format changes on purpose).

Usage: ``.venv/bin/python tests/indexes/make_golden.py``. Each case directory holds
``index/`` (a saved index), ``queries.npy``, ``expected_ids.npy``,
``expected_scores.npy`` and ``case.json`` (spec, metric, k, search params).
``test_io.py`` loads every case and requires the same answers, so a change of
the on-disk format or of the search code that alters results cannot pass silently.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import indexes  # noqa: E402
from tests.indexes.conftest import GOLDEN, clustered  # noqa: E402

# name: (spec, metric, search params, ids deleted before saving)
CASES = {
    "flat_cosine": ("Flat", "cosine", {}, []),
    "lsh_cosine": ("LSH64", "cosine", {"probes": 4, "candidates": 32}, []),
    "kd_l2": ("KD8", "l2", {"max_leaves": 6}, []),
    "pq_ip": ("PQ4x4", "ip", {}, []),
    "ivfpq_l2": ("IVF4,PQ4x4", "l2", {"nprobe": 2}, []),
    "ivfpq_rflat_cosine": ("IVF4,PQ4x4,RFlat", "cosine", {"nprobe": 2, "rerank": 20}, []),
    "hnsw_cosine_deleted": ("HNSW4", "cosine", {"ef_search": 16}, list(range(0, 200, 10))),
    "hnsw_ip": ("HNSW4,ef_construction=40", "ip", {"ef_search": 12}, []),
    "hnsw_sq8_cosine": ("HNSW4", "cosine", {"ef_search": 16, "traverse": "sq8"}, []),
}
K = 5


def main() -> None:
    points = clustered(216, 8, clusters=6, intrinsic=4, seed=11)
    base, queries = points[:200], points[200:]
    for name, (spec, metric, params, deleted) in CASES.items():
        target = GOLDEN / name
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        index = indexes.create(spec, base.shape[1], metric)
        index.train(base)
        index.add(base, ids=np.arange(100, 300))
        index.delete([100 + i for i in deleted])
        if params.get("traverse") == "sq8":
            index.search(queries[:1], K, **params)  # make the 8-bit codes so they are saved
        index.save(target / "index")
        res = index.search(queries, K, **params)
        np.save(target / "queries.npy", queries)
        np.save(target / "expected_ids.npy", res.ids)
        np.save(target / "expected_scores.npy", res.scores)
        case = {"spec": spec, "metric": metric, "k": K, "params": params, "deleted": len(deleted)}
        (target / "case.json").write_text(json.dumps(case, indent=2) + "\n", encoding="utf-8")
        print(f"{name}: {spec} {metric} -> {target}")


if __name__ == "__main__":
    main()
