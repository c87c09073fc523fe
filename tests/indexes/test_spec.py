"""``check_spec`` (no index type imported) accepts and refuses exactly what ``parse_spec`` does, with its messages."""

from __future__ import annotations

import subprocess
import sys

import pytest

import indexes
from core.errors import ConfigError
from indexes.base import registered
from indexes.hnsw.config import MAX_EF_CONSTRUCTION, MAX_M
from indexes.ivfpq import MAX_NLIST
from indexes.kdtree import MAX_LEAF_SIZE
from indexes.pq import MAX_PQ_M
from indexes.spec import FORMS, check_spec


def _specs() -> list[str]:
    """Every form at and around its bounds, and text no form matches."""
    specs = ["Flat", " Flat ", "flat", "Flat2", "", "HNSW", "HNSW32,", "IVF256", "PQ8", "RFlat", "LSH", "KD", "Foo"]
    for m in (0, 1, 2, 32, MAX_M, MAX_M + 1):
        specs += [f"HNSW{m}", f"HNSW{m},ef_construction=400"]
    specs += [f"HNSW16,ef_construction={e}" for e in (0, 1, MAX_EF_CONSTRUCTION, MAX_EF_CONSTRUCTION + 1)]
    for nlist in (0, 1, MAX_NLIST, MAX_NLIST + 1):
        specs += [f"IVF{nlist},PQ8x8", f"IVF{nlist},PQ8x4,RFlat"]
    for m in (0, 1, MAX_PQ_M, MAX_PQ_M + 1):
        for nbits in (0, 1, 8, 9):
            specs += [f"PQ{m}x{nbits}", f"IVF0,PQ{m}x{nbits}", f"IVF64,PQ{m}x{nbits}"]
    specs += [f"KD{n}" for n in (0, 1, MAX_LEAF_SIZE, MAX_LEAF_SIZE + 1)]
    specs += [f"LSH{n}" for n in (0, 7, 8, 4096, 4097)]
    return specs + ["HNSW٣٢", "KD٣"]  # \d matches any Unicode digit, and int() reads it


def _outcome(parse, spec: str) -> str:
    """What ``parse`` says of ``spec``; the forms an unknown spec is told of as a set (their order is tested below)."""
    try:
        parse(spec)
    except ConfigError as exc:
        head, sep, forms = str(exc).partition("; use one of the forms: ")
        return f"refused: {head}{sep}{sorted(forms.split(', ')) if sep else ''}"
    return "accepted"


@pytest.mark.parametrize("spec", _specs())
def test_check_spec_agrees_with_parse_spec(spec):
    assert _outcome(check_spec, spec) == _outcome(indexes.parse_spec, spec)


def test_accepted_specs_name_their_type():
    for spec in ("Flat", "HNSW32", "IVF256,PQ10x8,RFlat", "KD32", "LSH256", "PQ10x8"):
        assert type(indexes.create(spec, 16)).__name__ == check_spec(spec)


def test_forms_are_the_registered_types_own():
    types = registered()
    assert {f.type_name for f in FORMS} == set(types)
    for form in FORMS:
        config = types[form.type_name].config_cls
        assert (form.pattern.pattern, form.example) == (config.pattern.pattern, config.example)


def test_forms_are_in_the_order_the_package_registers_the_types():
    code = "import indexes; from indexes.base import registered; indexes.parse_spec('Flat'); print(*registered())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == [f.type_name for f in FORMS]


def test_checking_a_spec_imports_no_index_type():
    code = (
        "import sys; from rag.settings import Settings; Settings(index_spec='IVF64,PQ8x8');"
        "print(sorted(m for m in ('numba', 'scipy', 'indexes.base', 'indexes.hnsw') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
