"""The store the job tests share: a fresh one per test, with exact (Flat) indexes."""

from __future__ import annotations

import pytest

from rag.store import Store


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "data", default_index_spec="Flat")
    yield s
    s.close()
