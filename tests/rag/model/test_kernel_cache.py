"""numba's cached kernels are dropped when any kernel source of their folder changes, and only then."""

from __future__ import annotations

from pathlib import Path

from rag.model.kernel_cache import STAMP, drop_stale


def _folder(tmp_path: Path) -> Path:
    (tmp_path / "kernels.py").write_text("import numba\n")
    (tmp_path / "step.py").write_text("import numba\nfrom kernels import f\n")
    (tmp_path / "plain.py").write_text("x = 1\n")
    return tmp_path


def _cache(folder: Path) -> list[Path]:
    cache = folder / "__pycache__"
    cache.mkdir(exist_ok=True)
    files = [cache / "step.step_serial-12.py312.nbi", cache / "step.step_serial-12.py312.1.nbc"]
    for f in files:
        f.write_bytes(b"compiled")
    return files


def test_a_changed_kernel_source_drops_every_cached_kernel_of_the_folder(tmp_path):
    folder = _folder(tmp_path)
    assert drop_stale(folder)  # no stamp yet: whatever is cached may predate it
    files = _cache(folder)
    assert not drop_stale(folder) and all(f.exists() for f in files)
    (folder / "kernels.py").write_text("import numba\n# changed\n")  # a module step.py compiles into itself
    assert drop_stale(folder)
    assert not any(f.exists() for f in files)
    assert (folder / "__pycache__" / STAMP).exists()


def test_a_source_without_numba_leaves_the_cache(tmp_path):
    folder = _folder(tmp_path)
    drop_stale(folder)
    files = _cache(folder)
    (folder / "plain.py").write_text("x = 2\n")
    assert not drop_stale(folder) and all(f.exists() for f in files)


def test_the_decoder_package_records_its_kernel_sources():
    import rag.model

    folder = Path(rag.model.__file__).parent
    assert not drop_stale(folder)  # importing rag.model stamped it already
