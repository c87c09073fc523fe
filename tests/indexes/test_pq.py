"""Product quantization: ADC equals the distance to the decoded vector; PQ and IVF-PQ behaviour."""

from __future__ import annotations

import numpy as np
import pytest

import indexes.quantizer
from indexes.kernels import IP, L2
from indexes.kmeans import sample_rows
from indexes.quantizer import ProductQuantizer
from tests.indexes.conftest import build, clustered, recall_at


@pytest.fixture(scope="module")
def points():
    return clustered(2100, 16, clusters=10, intrinsic=8, seed=5)


@pytest.mark.parametrize("internal", [IP, L2])
def test_adc_tables_equal_decoded_distances(internal, points):
    pq = ProductQuantizer(16, 4, 6)
    pq.train(points[:2000])
    codes = pq.encode(points[:50])
    decoded = pq.decode(codes)
    q = points[2000:2003]
    tables = pq.tables(q, internal)  # (3, m, ksub)
    adc = np.stack([tables[i][np.arange(4), codes].sum(1) for i in range(3)])
    want = ((q[:, None, :] - decoded[None]) ** 2).sum(-1) if internal == L2 else -(q @ decoded.T)
    np.testing.assert_allclose(adc, want, rtol=1e-4, atol=1e-4)


def test_cosine_pq_scores_the_reconstruction(points):
    index = build("PQ4x6", points[:2000])
    q = points[2000:2004]
    res = index.search(q, 5)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    recon = index._pq.decode(np.asarray(index._codes))
    cos = (qn @ recon.T) / np.linalg.norm(recon, axis=1)
    # Vectors sharing a code tie, so compare scores: the best five, each the cosine of its own reconstruction.
    np.testing.assert_allclose(res.scores, np.sort(cos, axis=1)[:, ::-1][:, :5], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(res.scores, np.take_along_axis(cos, res.ids, axis=1), rtol=1e-4, atol=1e-4)


def test_more_subquantizers_reconstruct_better(points):
    errors = []
    for m in (2, 4, 8):
        pq = ProductQuantizer(16, m, 6)
        pq.train(points[:2000])
        errors.append(float(((pq.decode(pq.encode(points[:2000])) - points[:2000]) ** 2).sum(1).mean()))
    assert errors[0] > errors[1] > errors[2]


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_ivfpq_scores_match_reconstruction(metric, points):
    """IVF-PQ scores the reconstruction (centroid + decoded residual) exactly; cosine divides out its norm."""
    index = build("IVF8,PQ4x6", points[:2000], metric)
    q = points[2000:2005]
    res = index.search(q, 5, nprobe=8)
    lists = index._row_lists()
    rows = np.array([[np.flatnonzero(index._ids == i)[0] for i in row] for row in res.ids])
    qn = q / np.linalg.norm(q, axis=1, keepdims=True) if metric == "cosine" else q
    for i in range(5):
        recon = index._centroids[lists[rows[i]]] + index._pq.decode(np.asarray(index._codes[rows[i]]))
        if metric == "l2":
            want = -((recon - qn[i]) ** 2).sum(1)
        elif metric == "ip":
            want = recon @ qn[i]
        else:  # the cosine between the query and the reconstruction
            want = recon @ qn[i] / np.linalg.norm(recon, axis=1)
        np.testing.assert_allclose(res.scores[i], want, rtol=1e-4, atol=1e-4)


def test_lists_stay_grouped_after_adds_and_compaction(points):
    index = build("IVF8,PQ4x6", points[:1000])
    index.add(points[1000:2000])
    index.delete(range(0, 2000, 3))
    index.compact()
    offsets = np.asarray(index._offsets)
    assert offsets[0] == 0 and offsets[-1] == len(index) and (np.diff(offsets) >= 0).all()
    labels = np.searchsorted(offsets, np.arange(len(index)), side="right") - 1
    np.testing.assert_array_equal(labels, index._row_lists())


def test_added_rows_keep_their_vector_and_code_across_blocks_and_adds(points, monkeypatch):
    """Rows are encoded a block at a time and merged into the lists without a concatenated copy:
    every row still holds its own vector and the code of its own residual."""
    monkeypatch.setattr(indexes.quantizer, "ENCODE_BLOCK", 97)  # blocks that do not divide the batches
    index = build("IVF8,PQ4x6,RFlat", points[:1000], "l2")
    index.add(points[1000:2000], ids=np.arange(1000, 2000))
    rows = np.argsort(index._ids)
    np.testing.assert_array_equal(index._ids[rows], np.arange(2000))
    np.testing.assert_array_equal(index._x[rows], points[:2000])
    residuals = points[:2000] - index._centroids[index._row_lists()[rows]]
    np.testing.assert_array_equal(index._codes[rows], index._pq.encode(residuals))


def test_pq_trains_on_one_bounded_sample_for_every_subspace():
    """Past ``ksub * 256`` rows, one seeded sample serves all subspaces: training on it alone is the same."""
    x = clustered(4500, 8, clusters=10, intrinsic=4, seed=9)
    pq, on_sample = ProductQuantizer(8, 2, 4), ProductQuantizer(8, 2, 4)
    pq.train(x)
    assert pq.sample_size() == 16 * 256 < x.shape[0]
    on_sample.train(sample_rows(x, pq.sample_size(), np.random.default_rng(1234)))
    np.testing.assert_array_equal(pq.codebooks, on_sample.codebooks)


def test_rerank_and_nprobe_raise_recall(points):
    base, q = points[:2000], points[2000:]
    truth = build("Flat", base).search(q, 10).ids
    plain = build("IVF16,PQ4x6", base)
    refined = build("IVF16,PQ4x6,RFlat", base)
    r1 = recall_at(plain.search(q, 10, nprobe=1).ids, truth)
    r16 = recall_at(plain.search(q, 10, nprobe=16).ids, truth)
    rr = recall_at(refined.search(q, 10, nprobe=16, rerank=100).ids, truth)
    assert r1 < r16 < rr and rr > 0.95
    assert refined.search_defaults.rerank == 100, "RFlat indexes re-rank by default"


def test_pq_scan_covers_everything(points):
    """PQ has no partitions: a filter never loses results, it only restricts the scan."""
    index = build("PQ4x6", points[:2000])
    allow = np.arange(0, 2000, 7)
    res = index.search(points[2000:], 10, allow=allow, exact_fraction=0.0)
    assert np.isin(res.ids, allow).all() and (res.ids >= 0).all()
