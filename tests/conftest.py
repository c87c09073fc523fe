"""Shared fixtures: paths to ../shared/data and one loaded model per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The host names of Litestar's TestClient (http://testserver.local) and schemathesis's ASGI client
# (http://testserver): the app answers only to loopback names and those it is given.
os.environ.setdefault("RAG_ALLOWED_HOSTS", "testserver.local,testserver")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
FIXTURES = REPO / "tests" / "fixtures"


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data; skips the test when the data set is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not available (the shared data folder lies beside the repository)")
    return path


@pytest.fixture(scope="session")
def embedder():
    from ingest.embed import shared_embedder

    return shared_embedder(32)


@pytest.fixture(scope="session")
def generator():
    from rag.generate import shared_generator
    from rag.settings import Settings

    s = Settings.from_env()
    return shared_generator(s.generator, quant=s.quant)


@pytest.fixture
def settings(tmp_path):
    from rag.settings import Settings

    return Settings.from_env().replace(data_dir=tmp_path / "data")
