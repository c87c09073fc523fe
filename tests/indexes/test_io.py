"""The saved format: golden fixtures, versioning, and memory-mapped opening of large indexes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import indexes
from indexes.errors import IndexFormatError
from tests.indexes.conftest import GOLDEN, SPECS

GOLDEN_CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "case.json").is_file()) if GOLDEN.is_dir() else []


def test_every_type_has_a_golden_fixture():
    types = {json.loads((GOLDEN / name / "index/meta.json").read_text())["type"] for name in GOLDEN_CASES}
    assert types == set(indexes.base.registered())


@pytest.mark.parametrize("name", GOLDEN_CASES)
def test_golden_fixture_answers_unchanged(name):
    """Committed indexes (see make_golden.py) must load and answer exactly as when they were saved."""
    case_dir = GOLDEN / name
    case = json.loads((case_dir / "case.json").read_text())
    meta = indexes.read_meta(case_dir / "index")
    assert (meta["format"], meta["version"], meta["spec"], meta["metric"]) == (
        "rag-index",
        1,
        case["spec"],
        case["metric"],
    )
    index = indexes.load(case_dir / "index", mmap=True)
    assert len(index) == 200 - case["deleted"] == meta["count"]
    res = index.search(np.load(case_dir / "queries.npy"), case["k"], **case["params"])
    np.testing.assert_array_equal(res.ids, np.load(case_dir / "expected_ids.npy"))
    np.testing.assert_allclose(res.scores, np.load(case_dir / "expected_scores.npy"), rtol=1e-5, atol=1e-5)


def test_unknown_version_is_refused(tmp_path):
    target = tmp_path / "ix"
    shutil.copytree(GOLDEN / "hnsw_ip" / "index", target)
    meta = json.loads((target / "meta.json").read_text())
    meta["version"] = 99
    (target / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(IndexFormatError, match="version 99"):
        indexes.load(target)


def test_incomplete_or_foreign_directories(tmp_path):
    target = tmp_path / "ix"
    shutil.copytree(GOLDEN / "kd_l2" / "index", target)
    (target / "lo.npy").unlink()
    with pytest.raises(IndexFormatError, match="lo.npy is missing"):
        indexes.load(target)
    with pytest.raises(IndexFormatError, match="meta.json is missing"):
        indexes.load(tmp_path)
    meta = json.loads((GOLDEN / "kd_l2" / "index/meta.json").read_text())
    meta["type"] = "Annoy"
    (target / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(IndexFormatError, match="unknown index type"):
        indexes.load(target)


# Cheap-to-build configurations of every type, for a 100k-vector index.
BIG = {
    "Flat": "Flat",
    "LSH128": "LSH64",
    "KD16": "KD64",
    "PQ8x4": "PQ16x4",
    "IVF8,PQ8x4": "IVF64,PQ16x4",
    "IVF8,PQ8x4,RFlat": "IVF64,PQ16x4,RFlat",
    "HNSW8": "HNSW4,ef_construction=16",
}

# Run in a fresh interpreter: freed heap memory of the builds would hide an eager read.
_PROBE = """
import json, os, sys, time
import indexes

def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

indexes.load(sys.argv[1])  # imports and first-call paths
report, keep = {}, []
for name, path in json.loads(sys.argv[2]).items():
    before, start = rss(), time.perf_counter()
    keep.append(indexes.load(path, mmap=name != "eager"))
    report[name] = [time.perf_counter() - start, rss() - before]
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def open_report(tmp_path_factory):
    """{spec: (seconds to open, RSS growth, bytes on disk)} for saved 100k x 32 indexes."""
    root = tmp_path_factory.mktemp("big")
    x = np.random.default_rng(5).normal(size=(100_000, 32)).astype(np.float32)
    paths, sizes = {}, {}
    for spec, big in BIG.items():
        index = indexes.create(big, 32, "l2")
        index.train(x[:5000])
        index.add(x)
        paths[spec] = str(root / big.replace(",", "_"))
        index.save(paths[spec])
        sizes[spec] = sum(f.stat().st_size for f in Path(paths[spec]).glob("*.npy"))
    paths["eager"], sizes["eager"] = paths["Flat"], sizes["Flat"]
    warm = str(GOLDEN / "hnsw_ip" / "index")
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, warm, json.dumps(paths)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    return {name: (secs, grown, sizes[name]) for name, (secs, grown) in report.items()}


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="RSS is read from /proc")
def test_probe_detects_an_eager_load(open_report):
    _, grown, size = open_report["eager"]
    assert grown > 0.5 * size, "the RSS probe must see an index read into memory"


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="RSS is read from /proc")
@pytest.mark.parametrize("spec", SPECS)
def test_open_100k_index_without_reading_it(spec, open_report):
    """Opening a saved 100k-vector index takes milliseconds and does not pull its arrays into RAM."""
    secs, grown, size = open_report[spec]
    assert secs < 0.25, f"opening took {secs * 1000:.0f} ms"
    assert grown < 0.05 * size + (256 << 10), f"RSS grew {grown >> 10} KiB for a {size >> 10} KiB index"
