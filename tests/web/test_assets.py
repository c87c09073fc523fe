"""The page's files as the server sends them: the ES modules as JavaScript, a fixed list, nothing else."""

from __future__ import annotations

import re

import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.controllers.web import ASSETS, CSP, WEB_DIR
from rag.platform import Platform
from rag.settings import Settings


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    settings = Settings.from_env().replace(data_dir=tmp_path_factory.mktemp("assets") / "data")
    platform = Platform(settings)
    with TestClient(app=create_app(platform=platform)) as c:
        yield c
    platform.close()


def test_every_module_is_served_as_javascript(client):
    modules = sorted(p.name for p in WEB_DIR.glob("*.js"))
    assert "main.js" in modules and len(modules) > 5, modules
    for name in modules:
        r = client.get(f"/web/{name}")
        assert r.status_code == 200, (name, r.text)
        assert r.headers["content-type"].startswith("text/javascript"), (name, r.headers["content-type"])
        assert r.headers["x-content-type-options"] == "nosniff"
    assert client.get("/web/app.css").headers["content-type"].startswith("text/css")


def test_the_page_loads_its_entry_module_under_the_policy(client):
    r = client.get("/")
    assert r.headers["content-security-policy"] == CSP
    assert '<script type="module" src="/web/main.js"></script>' in r.text
    assert "'unsafe-inline'" not in CSP and "script-src 'self'" in CSP


def test_every_import_of_a_module_is_a_file_the_server_sends():
    for path in WEB_DIR.glob("*.js"):
        for target in re.findall(r'from "\./([^"]+)"', path.read_text()):
            assert target in ASSETS, f"{path.name} imports {target}, which /web/ does not serve"


@pytest.mark.parametrize(
    "name",
    ["index.html", "..%2Fapp.py", "..%2F..%2Fpyproject.toml", "%2Fetc%2Fpasswd", "main.js.map", "MAIN.JS", "x.js"],
)
def test_nothing_outside_the_list_is_served(client, name):
    r = client.get(f"/web/{name}")
    assert r.status_code == 404, (name, r.status_code, r.text[:200])


def test_a_path_with_folders_finds_nothing(client):
    for path in ("/web/../api/app.py", "/web/js/main.js", "/web/a/b.js"):
        assert client.get(path).status_code == 404, path
