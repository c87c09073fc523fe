"""The web page in headless Chromium against a real server.

One server per session (uvicorn in a thread, on a free port, over a temporary data
directory) and one Chromium; each test gets a fresh browser context and page. The
browser is Debian's ``chromium`` (`make test` installs it with apt-get), launched by
Playwright through ``executable_path``: Playwright never downloads a browser here.
"""

from __future__ import annotations

import shutil

import httpx
import pytest

from tests.live import LiveServer, free_port

WIDE = {"width": 1280, "height": 900}


@pytest.fixture(scope="session")
def server(tmp_path_factory, embedder, generator):
    """The app as `rag serve` runs it; ``embedder``/``generator`` load the models once, before it starts."""
    data = tmp_path_factory.mktemp("web") / "data"
    port = free_port()
    with pytest.MonkeyPatch.context() as mp:
        # create_app reads Settings.from_env() when uvicorn calls the factory, so these are set first
        mp.setenv("RAG_DATA_DIR", str(data))
        mp.setenv("RAG_HOST", "127.0.0.1")
        mp.setenv("RAG_PORT", str(port))
        mp.delenv("RAG_ADMIN_KEY", raising=False)  # an open server: the key dialog is not under test
        with LiveServer("api.app:create_app", port=port, factory=True) as live:
            yield live


@pytest.fixture(scope="session")
def api(server):
    """An HTTP client of the same server, for set-up and for checking what the page did."""
    with httpx.Client(base_url=server.url, timeout=120) as client:
        yield client


@pytest.fixture(scope="session")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is in the [test] extra")
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("chromium is not installed (`make test` installs Debian's chromium package with apt-get)")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, args=["--no-sandbox"], headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    """A fresh context (no storage carried over) and page at 1280x900; uncaught script errors fail the test."""
    context = browser.new_context(viewport=WIDE)
    context.set_default_timeout(30_000)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"
