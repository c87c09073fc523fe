"""Check an index spec string without importing the index types (numpy, numba, scipy).

``parse_spec`` (:mod:`indexes.base`) builds a type's config and so needs every
type registered: importing them loads numba and its kernels, which a process
that only reads its settings (``rag generate``) should not pay for.
:func:`check_spec` accepts and refuses exactly the specs ``parse_spec`` does,
with the same messages, from the forms below: each type's pattern, example and
build-parameter bounds, in the order the types register (:data:`TYPE_MODULES`; a
test holds them to the types' own configs).
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass

from core.errors import ConfigError

# The bounds the types' configs enforce (indexes.hnsw.config, indexes.ivfpq, indexes.pq, indexes.kdtree, indexes.lsh).
MAX_HNSW_M = 128
MAX_EF_CONSTRUCTION = 4096
MAX_NLIST = 65536
MAX_PQ_M = 1024
MAX_LEAF_SIZE = 4096
LSH_NBITS = (8, 4096)


def _bounded(name: str, value: int, minimum: int = 1, maximum: int | None = None) -> None:
    """Raise ConfigError unless ``minimum <= value <= maximum`` (the message of ``indexes.approximate.positive``)."""
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"an integer >= {minimum}" if maximum is None else f"an integer between {minimum} and {maximum}"
        raise ConfigError(f"{name} must be {bound}, got {value!r}")


def _pq(m: int, nbits: int) -> None:
    _bounded("PQ m", m, maximum=MAX_PQ_M)
    if not 1 <= nbits <= 8:
        raise ConfigError(f"PQ nbits must be between 1 and 8 (codes are bytes), got {nbits}")


def _hnsw(match: re.Match[str]) -> None:
    _bounded("HNSW M", int(match.group(1)), minimum=2, maximum=MAX_HNSW_M)
    if match.group(2):
        _bounded("ef_construction", int(match.group(2)), maximum=MAX_EF_CONSTRUCTION)


def _ivfpq(match: re.Match[str]) -> None:
    _bounded("IVF nlist", int(match.group(1)), maximum=MAX_NLIST)
    _pq(int(match.group(2)), int(match.group(3)))


def _kd(match: re.Match[str]) -> None:
    _bounded("KD leaf_size", int(match.group(1)), maximum=MAX_LEAF_SIZE)


def _lsh(match: re.Match[str]) -> None:
    nbits = int(match.group(1))
    if not LSH_NBITS[0] <= nbits <= LSH_NBITS[1]:
        raise ConfigError(f"LSH nbits must be between {LSH_NBITS[0]} and {LSH_NBITS[1]}, got {nbits!r}")


@dataclass(frozen=True)
class SpecForm:
    """One index type's spec: the registered type's name, its pattern (matched whole), an example, its bounds."""

    type_name: str
    pattern: re.Pattern[str]
    example: str
    check: Callable[[re.Match[str]], None]


FORMS: tuple[SpecForm, ...] = (
    SpecForm("Flat", re.compile(r"Flat"), "Flat", lambda _: None),
    SpecForm("HNSW", re.compile(r"HNSW(\d+)(?:,ef_construction=(\d+))?"), "HNSW32", _hnsw),
    SpecForm("PQ", re.compile(r"PQ(\d+)x(\d+)"), "PQ10x8", lambda m: _pq(int(m.group(1)), int(m.group(2)))),
    SpecForm("IVFPQ", re.compile(r"IVF(\d+),PQ(\d+)x(\d+)(,RFlat)?"), "IVF256,PQ10x8", _ivfpq),
    SpecForm("KDTree", re.compile(r"KD(\d+)"), "KD32", _kd),
    SpecForm("LSH", re.compile(r"LSH(\d+)"), "LSH256", _lsh),
)


def check_spec(spec: str) -> str:
    """The name of the index type ``spec`` builds (e.g. ``"HNSW"``); raise as ``parse_spec`` would.

    Raises:
        ConfigError: no type's form matches ``spec``, or a build parameter is out of its bounds.
    """
    text = spec.strip()
    for form in FORMS:
        match = form.pattern.fullmatch(text)
        if match:
            form.check(match)
            return form.type_name
    examples = ", ".join(form.example for form in FORMS)
    raise ConfigError(f"unknown index spec {spec!r}; use one of the forms: {examples}")


# The modules of the index types, imported in this order (indexes.ivfpq imports indexes.pq: PQ registers before IVFPQ).
TYPE_MODULES = ("indexes.flat", "indexes.hnsw", "indexes.ivfpq", "indexes.kdtree", "indexes.lsh", "indexes.pq")


def register_types() -> None:
    """Import every index type's module, which registers it with :mod:`indexes.base` (numba and all; once)."""
    for name in TYPE_MODULES:
        if name not in sys.modules:
            importlib.import_module(name)
