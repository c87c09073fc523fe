"""``rag serve`` loads the default query path's models at start, off the request path; test apps do not."""

from __future__ import annotations

import importlib

import pytest
from litestar.testing import TestClient

from api.app import create_app, preload_models
from rag.cli.serve import APP_FACTORY
from rag.platform import Platform

BASE_URL = "http://localhost.localhost"


def test_rag_serve_runs_the_preloading_factory():
    module, name = APP_FACTORY.split(":")
    assert getattr(importlib.import_module(module), name).__name__ == "serve_app"


def test_an_app_loads_no_model_unless_asked(settings):
    platform = Platform(settings)
    try:
        with TestClient(app=create_app(platform=platform), base_url=BASE_URL) as client:
            assert client.get("/healthz").status_code == 200
            loaded = platform.loaded_models()  # (the embedder is the process's: other tests may have loaded it)
            assert not loaded["reader"] and not loaded["generator"]
    finally:
        platform.close()


@pytest.mark.slow  # loads the embedder and the reader
def test_preload_loads_the_query_models_but_not_the_generator(settings):
    platform = Platform(settings)
    try:
        thread = preload_models(platform)
        thread.join(timeout=600)
        assert not thread.is_alive()
        assert platform.loaded_models() == {"embedder": True, "reader": True, "generator": False}
    finally:
        platform.close()
