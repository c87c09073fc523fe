"""The data directory and what is in it are readable by their owner only."""

from __future__ import annotations

import os
import stat

from rag.cli import main
from rag.platform import Platform
from rag.settings import Settings
from tests.conftest import FIXTURES


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_data_directory_is_private(tmp_path):
    data = tmp_path / "data"
    platform = Platform(Settings(data_dir=data))
    try:
        assert mode(data) == 0o700
        assert mode(data / "catalog.duckdb") == 0o600
    finally:
        platform.close()


def test_an_existing_readable_data_directory_is_made_private(tmp_path):
    data = tmp_path / "data"
    Platform(Settings(data_dir=data)).close()
    os.chmod(data, 0o755)  # as earlier releases made it
    os.chmod(data / "catalog.duckdb", 0o644)
    Platform(Settings(data_dir=data)).close()
    assert mode(data) == 0o700 and mode(data / "catalog.duckdb") == 0o600


def test_what_the_cli_stores_is_private(tmp_path, capsys, embedder):
    data = tmp_path / "data"
    umask = os.umask(0o022)  # the usual umask, under which the files used to be 0644
    try:
        assert main(["--data-dir", str(data), "ingest", str(FIXTURES / "api" / "notes.txt")]) == 0
        assert os.umask(0o022) == 0o022  # put back after the command
    finally:
        os.umask(umask)
    assert "stored as document 1" in capsys.readouterr().out
    files = [p for p in data.rglob("*") if p.is_file()]
    assert any(p.suffix == ".npy" for p in files)  # a vector segment among them
    assert {str(p.relative_to(data)): oct(mode(p)) for p in files if mode(p) & 0o077} == {}
    dirs = [data, *(p for p in data.rglob("*") if p.is_dir())]
    assert {str(p): oct(mode(p)) for p in dirs if mode(p) & 0o077} == {}
