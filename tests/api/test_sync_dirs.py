"""RAG_SYNC_DIRS: the server syncs each folder as a job when it starts, then on each change, until it stops."""

from __future__ import annotations

import time

import pytest
from litestar.testing import TestClient

from api.app import create_app
from core.errors import ConfigError
from rag.platform import Platform
from rag.settings import Settings

FIRST = "The greenhouse vents open automatically when the air inside passes thirty degrees.\n"
SECOND = "Our lighthouse keeper logged every passing tanker in a leather-bound book.\n"


def test_a_missing_sync_folder_stops_the_server_before_it_opens_anything(tmp_path):
    settings = Settings.from_env().replace(data_dir=tmp_path / "data", sync_dirs=f"docs:{tmp_path / 'nowhere'}")
    with pytest.raises(ConfigError, match="nowhere.*not a folder"):
        create_app(settings)
    assert not (tmp_path / "data").exists()


@pytest.mark.slow  # the sync's files embed with the real model
def test_the_server_syncs_its_folders_as_jobs_and_keeps_watching(tmp_path, embedder):
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "greenhouse.md").write_text(FIRST, encoding="utf-8")
    (folder / "sub" / "broken.pdf").write_bytes(b"%PDF-1.4 broken")
    settings = Settings.from_env().replace(data_dir=tmp_path / "data", sync_dirs=f"docs:{folder}", index_spec="Flat")
    platform = Platform(settings)
    try:
        with TestClient(app=create_app(platform=platform)) as client:
            first = _wait_for_job(client, lambda jobs: jobs)
            assert first["kind"] == "sync" and first["collection"] == "docs" and first["status"] == "failed"
            assert first["result"]["added"] == ["greenhouse.md"] and first["progress"]["files_total"] == 2
            assert first["result"]["failed"][0]["file"] == "sub/broken.pdf" and "sub/broken.pdf" in first["error"]
            assert [d["filename"] for d in _documents(client)] == ["greenhouse.md"]

            (folder / "sub" / "lighthouse.txt").write_text(SECOND, encoding="utf-8")
            (folder / "greenhouse.md").unlink()
            second = _wait_for_job(client, lambda jobs: [j for j in jobs if j["id"] > first["id"]])
            assert second["result"]["added"] == ["sub/lighthouse.txt"]
            assert second["result"]["deleted"] == ["greenhouse.md"]
            assert [d["filename"] for d in _documents(client)] == ["sub/lighthouse.txt"]
            hits = client.post("/v1/collections/docs/search", json={"query": "greenhouse vents", "k": 5}).json()
            assert {h["filename"] for h in hits["results"]} <= {"sub/lighthouse.txt"}  # the deleted file is gone
    finally:
        platform.close()


def _wait_for_job(client, pick, seconds: float = 120.0) -> dict:
    """The newest sync job ``pick`` chooses from the listed ones, once it is final."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        jobs = [j for j in client.get("/v1/jobs").json()["jobs"] if j["kind"] == "sync"]
        chosen = pick(jobs)
        if chosen and chosen[0]["status"] in ("done", "failed"):
            return chosen[0]
        time.sleep(0.2)
    raise AssertionError(f"no finished sync job in {seconds} s: {client.get('/v1/jobs').json()}")


def _documents(client) -> list[dict]:
    return client.get("/v1/collections/docs/documents").json()["documents"]
