"""LSH: signature packing, popcount, multi-probe order, exhaustive Hamming mode, table sizing."""

from __future__ import annotations

import itertools

import numpy as np

import indexes
from indexes.lsh import signatures
from indexes.lsh_probe import _probe_order, popcount
from tests.indexes.conftest import build, clustered, recall_at


def test_signature_bits_are_projection_signs():
    proj = np.random.default_rng(0).normal(size=(5, 100)).astype(np.float32)
    sig = signatures(proj)
    assert sig.shape == (5, 2) and sig.dtype == np.uint64
    for j in range(100):
        bit = (sig[:, j // 64] >> np.uint64(j % 64)) & np.uint64(1)
        np.testing.assert_array_equal(bit.astype(bool), proj[:, j] > 0)
    assert ((sig[:, 1] >> np.uint64(36)) == 0).all(), "padding bits stay zero"


def test_popcount():
    for v in [0, 1, 2**63, 2**64 - 1, 0x0F0F, 123456789123456789]:
        assert int(popcount(np.uint64(v))) == bin(v).count("1")


def test_probes_follow_increasing_perturbation_score():
    """Query-directed probing yields the lowest-score flip sets first, like a brute-force ranking."""
    rng = np.random.default_rng(1)
    key_bits, probes = 6, 20
    proj = rng.normal(size=3 * key_bits).astype(np.float32)
    flips = np.empty(probes, np.int64)
    hk, hv = np.empty(2 * probes + 2, np.float32), np.empty(2 * probes + 2, np.int64)
    count = _probe_order(proj, 1, key_bits, probes, flips, hk, hv)
    margins = np.abs(proj[key_bits : 2 * key_bits])
    assert count == probes and flips[0] == 0 and len(set(flips.tolist())) == probes
    scores = [sum(margins[b] for b in range(key_bits) if f >> b & 1) for f in flips]
    assert all(a <= b + 1e-6 for a, b in itertools.pairwise(scores))
    every = sorted(sum(margins[b] for b in range(key_bits) if f >> b & 1) for f in range(1 << key_bits))
    np.testing.assert_allclose(sorted(scores), every[:probes], rtol=1e-5)


def test_exhaustive_hamming_mode_with_all_candidates_is_exact():
    x = clustered(500, 24, clusters=8, seed=2)
    index = build("LSH128", x)
    res = index.search(x[:10], 5, probes=0, candidates=500)
    np.testing.assert_array_equal(res.ids, build("Flat", x).search(x[:10], 5).ids)


def test_tables_grow_with_the_index():
    x = clustered(4000, 16, seed=3)
    small, large = build("LSH128", x[:200]), build("LSH128", x)
    assert small._key_bits < large._key_bits
    assert large._table_rows.shape == (128 // large._key_bits, 4000)
    assert recall_at(large.search(x[:50], 10).ids, build("Flat", x).search(x[:50], 10).ids) > 0.9


def test_hyperplanes_are_saved(tmp_path):
    index = build("LSH64", clustered(300, 16, seed=4))
    index.save(tmp_path / "ix")
    np.testing.assert_array_equal(indexes.load(tmp_path / "ix").arrays()["planes"], index.arrays()["planes"])
