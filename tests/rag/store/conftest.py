"""Fixtures of the store's tests."""

from __future__ import annotations

import pytest

from rag.store.catalog import Catalog


@pytest.fixture
def catalog(tmp_path):
    """A DuckDB catalog of its own, without any vector index."""
    c = Catalog(tmp_path / "catalog.duckdb")
    yield c
    c.close()
