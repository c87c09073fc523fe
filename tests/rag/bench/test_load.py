"""The load test's machinery (not its speed): a real server subprocess, queries during an ingest, load.json."""

from __future__ import annotations

import json

import pytest

from tests.conftest import shared_path


@pytest.mark.slow
def test_a_short_load_run_answers_every_request(tmp_path):
    from rag.bench.load import run

    scifact = shared_path("scifact")
    out = tmp_path / "load"
    summary = run(
        out, seconds=5, concurrency=2, data_dir=tmp_path / "data", ingest_docs=40, ask_fraction=0.0,
        seed_docs=20, ingest_batch=4, scifact=scifact, log=lambda _: None,
    )  # fmt: skip

    assert summary["requests"] > 0 and summary["search"]["count"] == summary["requests"]
    assert summary["errors"] == 0, summary["first_errors"]
    assert summary["ask"]["count"] == 0
    assert summary["ingest"]["jobs"] >= 1 and summary["ingest"]["documents"] >= 1
    assert summary["server_stop"] == "sigterm"  # it shut down cleanly after SIGTERM
    assert summary["server_log_errors"] == []
    saved = json.loads((out / "load.json").read_text())
    assert saved == summary
    for key in ("machine", "seconds", "concurrency", "requests", "errors", "throughput_rps", "ingest"):
        assert key in saved
    for key in ("count", "errors", "p50_ms", "p90_ms", "p99_ms", "max_ms"):
        assert key in saved["search"]
    for key in ("jobs", "documents", "errors", "docs_per_s"):
        assert key in saved["ingest"]
    assert saved["search"]["p50_ms"] <= saved["search"]["p99_ms"] <= saved["search"]["max_ms"]
    assert (out / "server.log").stat().st_size > 0
