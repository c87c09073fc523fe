"""HNSW compaction: the graph is reconnected around deleted nodes, not left full of tombstones."""

from __future__ import annotations

import numpy as np

from tests.indexes.conftest import build, clustered, recall_at
from tests.indexes.hnsw.test_build import check_graph


def test_compaction_repairs_the_graph(tmp_path):
    points = clustered(4100, 24, seed=5)
    base, q = points[:4000], points[4000:]
    index = build("HNSW8", base)
    entry_id = int(index._ids[index._top[0]])
    doomed = np.unique(np.concatenate([np.arange(0, 4000, 3), [entry_id]]))  # a third, and the entry point
    index.delete(doomed)
    keep = np.setdiff1d(np.arange(4000), doomed)
    truth = build("Flat", base[keep], ids=keep).search(q, 10).ids
    tomb = recall_at(index.search(q, 10, ef_search=32).ids, truth)

    index.compact()
    check_graph(index)
    assert index._n_rows == keep.size and index.deleted_count == 0
    repaired = recall_at(index.search(q, 10, ef_search=32).ids, truth)
    rebuilt = recall_at(build("HNSW8", base[keep], ids=keep).search(q, 10, ef_search=32).ids, truth)
    assert repaired >= rebuilt - 0.02 and repaired >= tomb - 0.02
    assert not np.isin(index.search(q, 10).ids, doomed).any()

    index.save(tmp_path / "ix")
    assert "live" not in index.arrays()


def test_everything_deleted_then_refilled():
    x = clustered(300, 8, seed=6)
    index = build("HNSW4", x)
    index.delete(range(300))
    index.compact()
    assert len(index) == 0 and (index.search(x[:2], 3).ids == -1).all()
    index.add(x[:50])
    assert index.search(x[:1], 1).ids[0, 0] == 300, "ids continue after the deleted ones"
