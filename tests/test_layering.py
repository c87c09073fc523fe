"""Dependencies point one way: core <- (indexes, ingest) <- rag <- api (checked on the import graph).

``core`` (the base of the errors) imports only the standard library; ``indexes``
and ``ingest`` are siblings: neither imports the other. The decoder package
``rag/model`` stands alone (of the platform it imports only itself and ``core``),
and ``benchmarks/`` sits on top of the library (it may import indexes, ingest
and rag but not api; nothing in the library imports it: what ``rag bench``,
``rag eval`` and the benchmark jobs run lives in ``rag/bench`` and ``rag/eval``). Every
import in a file counts, also those inside functions.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAYERS = ["core", "indexes", "ingest", "rag", "api"]
# what each layer may import of the platform: indexes and ingest are siblings on top of core
MAY_IMPORT = {
    "core": set(),
    "indexes": {"core", "indexes"},
    "ingest": {"core", "ingest"},
    "rag": {"core", "indexes", "ingest", "rag"},
    "api": {"core", "indexes", "ingest", "rag", "api"},
}
# llvmlite is numba's code generator (numba.extending intrinsics write LLVM IR with it: the HNSW prefetch).
THIRD_PARTY_ALLOWED_IN_INDEXES = {"numpy", "numba", "llvmlite"}
MODEL_MAY_IMPORT = ("rag.model", "core")  # the decoder package, and the base of the errors


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def modules_imported_by(path: Path) -> set[str]:
    """Full dotted names of the modules ``path`` imports (``from a import b`` counts as ``a.b``; relative ones not)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


@pytest.mark.parametrize("layer", LAYERS)
def test_no_upward_or_sideways_imports(layer):
    forbidden = set(LAYERS) - MAY_IMPORT[layer]
    bad = []
    for path in sorted((REPO / layer).rglob("*.py")):
        for name in imports_of(path) & forbidden:
            bad.append(f"{path.relative_to(REPO)} imports {name}")
    assert not bad, "imports against core <- (indexes, ingest) <- rag <- api:\n" + "\n".join(bad)


def test_core_imports_only_the_standard_library():
    import sys

    bad = [
        f"{path.relative_to(REPO)} imports {name}"
        for path in sorted((REPO / "core").rglob("*.py"))
        for name in imports_of(path) - set(sys.stdlib_module_names) - {"core", "__future__"}
    ]
    assert not bad, "\n".join(bad)


def test_indexes_import_only_numpy_numba_and_stdlib():
    import sys

    stdlib = set(sys.stdlib_module_names)
    bad = []
    for path in sorted((REPO / "indexes").rglob("*.py")):
        for name in imports_of(path) - stdlib - THIRD_PARTY_ALLOWED_IN_INDEXES - {"core", "indexes", "__future__"}:
            bad.append(f"{path.relative_to(REPO)} imports {name}")
    assert not bad, "\n".join(bad)


def test_the_decoder_package_stands_alone():
    bad = []
    for path in sorted((REPO / "rag" / "model").rglob("*.py")):
        for module in sorted(modules_imported_by(path)):
            top = module.split(".")[0]
            if top in LAYERS + ["benchmarks"] and not within(module, MODEL_MAY_IMPORT):
                bad.append(f"{path.relative_to(REPO)} imports {module}")
    assert not bad, "rag/model may import only rag.model and core of the platform:\n" + "\n".join(bad)


def names_benchmarks_module(path: Path) -> bool:
    """Whether a string in ``path`` is a module name under ``benchmarks`` (an import by name, e.g. importlib)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and re.fullmatch(r"benchmarks(\.\w+)+", node.value)
        for node in ast.walk(tree)
    )


def test_benchmarks_sit_on_top_of_the_library():
    bad = [
        f"{path.relative_to(REPO)} imports api"
        for path in sorted((REPO / "benchmarks").rglob("*.py"))
        if "api" in imports_of(path)
    ]
    for layer in LAYERS:
        for path in sorted((REPO / layer).rglob("*.py")):
            if "benchmarks" in imports_of(path) or names_benchmarks_module(path):
                bad.append(f"{path.relative_to(REPO)} imports benchmarks")
    assert not bad, "benchmarks import the library, not api; nothing in the library imports benchmarks:\n" + (
        "\n".join(bad)
    )


def test_the_serving_packages_never_import_training():
    """Training code (``rag/training``) is run by its commands and the CLI; the server never loads it."""
    bad = []
    for layer in ("rag", "api"):
        for path in sorted((REPO / layer).rglob("*.py")):
            name = path.relative_to(REPO).as_posix()
            if name.startswith(("rag/training/", "rag/cli/")):
                continue
            bad += [f"{name} imports {m}" for m in sorted(modules_imported_by(path)) if within(m, ("rag.training",))]
    assert not bad, "only rag/training and rag/cli may import rag.training:\n" + "\n".join(bad)
