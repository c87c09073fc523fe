"""Dependencies point one way: indexes <- ingest <- rag <- api (checked on the import graph)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAYERS = ["indexes", "ingest", "rag", "api"]
THIRD_PARTY_ALLOWED_IN_INDEXES = {"numpy", "numba"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("layer", LAYERS)
def test_no_upward_imports(layer):
    above = set(LAYERS[LAYERS.index(layer) + 1 :])
    bad = []
    for path in sorted((REPO / layer).rglob("*.py")):
        for name in imports_of(path) & above:
            bad.append(f"{path.relative_to(REPO)} imports {name}")
    assert not bad, "imports against indexes <- ingest <- rag <- api:\n" + "\n".join(bad)


def test_indexes_import_only_numpy_numba_and_stdlib():
    import sys

    stdlib = set(sys.stdlib_module_names)
    bad = []
    for path in sorted((REPO / "indexes").rglob("*.py")):
        for name in imports_of(path) - stdlib - THIRD_PARTY_ALLOWED_IN_INDEXES - {"indexes", "__future__"}:
            bad.append(f"{path.relative_to(REPO)} imports {name}")
    assert not bad, "\n".join(bad)
