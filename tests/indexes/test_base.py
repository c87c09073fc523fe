"""Spec strings, configs and search parameters: round trips and the errors that say what to change."""

from __future__ import annotations

import numpy as np
import pytest

import indexes
from core.errors import ConfigError
from indexes.base import parse_spec
from indexes.errors import DimensionMismatchError
from tests.indexes.conftest import SPECS

CANONICAL = SPECS + [
    "LSH256",
    "KD32",
    "PQ48x8",
    "IVF256,PQ48x8",
    "IVF1024,PQ16x8,RFlat",
    "HNSW32",
    "HNSW48,ef_construction=400",
]


@pytest.mark.parametrize("spec", CANONICAL)
def test_spec_round_trip(spec):
    config = parse_spec(spec)
    assert config.spec() == spec
    assert parse_spec(config.spec()) == config
    with pytest.raises(AttributeError):
        config.__setattr__(next(iter(vars(config)), "x"), 1)  # frozen


def test_spec_fields():
    assert parse_spec("IVF256,PQ48x8").nlist == 256
    ivf = parse_spec("IVF64,PQ10x4,RFlat")
    assert (ivf.m, ivf.nbits, ivf.refine) == (10, 4, True)
    hnsw = parse_spec("HNSW32")
    assert (hnsw.max_degree, hnsw.M, hnsw.ef_construction) == (64, 32, 200)
    assert parse_spec("  KD32 ").leaf_size == 32
    assert parse_spec("HNSW32,ef_construction=200").spec() == "HNSW32", "defaults are left out of the canonical form"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("HNSW", "unknown index spec"),
        ("IVF256", "unknown index spec"),
        ("PQ48", "unknown index spec"),
        ("hnsw32", "unknown index spec"),
        ("HNSW32,ef_search=10", "unknown index spec"),
        ("LSH4", "LSH nbits"),
        ("LSH8192", "LSH nbits"),
        ("KD0", "leaf_size"),
        ("PQ0x8", "PQ m"),
        ("PQ8x9", "nbits must be between 1 and 8"),
        ("PQ8x0", "nbits must be between 1 and 8"),
        ("IVF0,PQ8x8", "nlist"),
        ("HNSW1", "HNSW M"),
        ("HNSW32,ef_construction=0", "ef_construction"),
        # Upper bounds: a spec can come from a client (?index_spec=), and HNSW99999
        # reserved 200k links per vector (62 MB on disk for 80 chunks).
        ("HNSW99999", r"HNSW M must be an integer between 2 and 128, got 99999"),
        ("HNSW129", "between 2 and 128"),
        ("HNSW32,ef_construction=99999", r"ef_construction must be an integer between 1 and 4096"),
        ("IVF999999,PQ8x8", r"nlist must be an integer between 1 and 65536"),
        ("PQ99999x8", r"PQ m must be an integer between 1 and 1024"),
        ("KD99999", r"leaf_size must be an integer between 1 and 4096"),
    ],
)
def test_bad_specs(spec, message):
    with pytest.raises(ConfigError, match=message):
        indexes.create(spec, 32)


@pytest.mark.parametrize("spec", ["HNSW2", "HNSW128,ef_construction=4096", "IVF65536,PQ8x8", "KD4096", "LSH4096"])
def test_specs_at_the_bounds_parse(spec):
    assert parse_spec(spec).spec() == spec


def test_unknown_spec_lists_the_forms():
    with pytest.raises(ConfigError) as err:
        parse_spec("Annoy10")
    for example in ("Flat", "LSH256", "KD32", "PQ10x8", "IVF256,PQ10x8", "HNSW32"):
        assert example in str(err.value)


def test_pq_needs_divisible_dimension():
    x = np.zeros((300, 50), np.float32)
    for spec in ("PQ7x8", "IVF16,PQ7x8"):
        index = indexes.create(spec, 50)  # the class can be probed at any dim; training checks it
        with pytest.raises(ConfigError, match="divisible"):
            index.train(x)


@pytest.mark.parametrize(
    ("spec", "params", "message"),
    [
        ("HNSW16", {"nprobe": 4}, "unknown search parameter"),
        ("KD16", {"ef_search": 4}, "unknown search parameter"),
        ("LSH128", {"max_leaves": 4}, "unknown search parameter"),
        ("IVF8,PQ8x4", {"ef_search": 4}, "unknown search parameter"),
        ("PQ8x4", {"nprobe": 4}, "unknown search parameter"),
        ("HNSW16", {"ef_search": 0}, "ef_search"),
        ("HNSW16", {"ef_search": 2.5}, "ef_search"),
        ("KD16", {"max_leaves": 0}, "max_leaves"),
        ("LSH128", {"candidates": 0}, "candidates"),
        ("LSH128", {"probes": -1}, "probes"),
        ("IVF8,PQ8x4", {"nprobe": 0}, "nprobe"),
        ("IVF8,PQ8x4", {"rerank": 50}, "RFlat"),
        ("HNSW16", {"exact_fraction": 1.5}, "exact_fraction"),
    ],
)
def test_bad_search_params(spec, params, message):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 16)).astype(np.float32)
    index = indexes.create(spec, 16)
    index.train(x)
    index.add(x)
    with pytest.raises(ConfigError, match=message):
        index.search(x[:1], 3, **params)


@pytest.mark.parametrize("spec", SPECS)
def test_input_validation(spec):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 16)).astype(np.float32)
    index = indexes.create(spec, 16)
    index.train(x)
    with pytest.raises(DimensionMismatchError):
        index.add(x[:, :8])
    index.add(x)
    with pytest.raises(DimensionMismatchError):
        index.search(x[:2, :15], 3)
    with pytest.raises(ConfigError, match="k must be"):
        index.search(x[:2], 0)
    one = index.search(x[0], 3)  # a single (dim,) query is a batch of one
    assert one.ids.shape == (1, 3)


def test_training_needs_enough_vectors():
    x = np.random.default_rng(0).normal(size=(100, 16)).astype(np.float32)
    with pytest.raises(ConfigError, match="at least 256"):
        indexes.create("PQ8x8", 16).train(x)
    with pytest.raises(ConfigError, match="lower nlist"):
        indexes.create("IVF128,PQ8x4", 16).train(x)
