"""``rag ingest/search/ask`` while ``rag serve`` holds the data directory: the CLI works through the server."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys

import pytest

from core.errors import RAGError
from rag.cli import main
from rag.cli.show import HIT_KEYS, hit_json
from rag.server_file import read_server_file, remove_server_file, running_server, write_server_file
from tests.live import LiveServer, free_port

ESPRESSO = (
    "Espresso machine repair guide. Descale the boiler every three months with citric acid. "
    "A worn group head gasket makes the machine leak; replace it when water drips around the portafilter.\n"
)


@pytest.fixture
def live(tmp_path, monkeypatch, embedder):
    data = tmp_path / "data"
    port = free_port()
    # create_app reads Settings.from_env() at start-up; its lifespan writes server.json from these
    monkeypatch.setenv("RAG_DATA_DIR", str(data))
    monkeypatch.setenv("RAG_HOST", "127.0.0.1")
    monkeypatch.setenv("RAG_PORT", str(port))
    with LiveServer("api.app:create_app", port=port, factory=True) as server:
        assert read_server_file(data) is not None  # the server's lifespan wrote it
        server.data_dir = data
        yield server


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_ingest_and_search_go_through_the_running_server(live, tmp_path, capsys):
    data = live.data_dir
    args = ["--data-dir", str(data)]
    doc = tmp_path / "espresso.txt"
    doc.write_text(ESPRESSO)
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert running_server(data).url == f"http://127.0.0.1:{live.port}"

    assert main(args + ["ingest", str(doc), "--collection", "c1"]) == 0
    captured = capsys.readouterr()
    assert f"{doc}: stored as document 1 (" in captured.out
    assert f"using the server at http://127.0.0.1:{live.port} (it holds {data.resolve()})" in captured.err
    assert "stored 1, duplicates 0, failed 0 of 1 files" in captured.err

    # the empty file fails its batch on the server; sent again alone, it fails by itself with its own message
    assert main(args + ["ingest", str(doc), str(empty), "--collection", "c1"]) == 1
    captured = capsys.readouterr()
    assert f"{doc}: duplicate of document 1" in captured.out
    skipped = [line for line in captured.err.splitlines() if line.startswith(f"skipped {empty}: ")]
    assert skipped and "server http" not in skipped[0]
    assert "stored 0, duplicates 1, failed 1 of 2 files" in captured.err

    # a file that fails on the server's worker fails alone: the other, stored, is reported stored (read from the job)
    notes = tmp_path / "notes.txt"
    notes.write_text("Grinder burrs dull after about five hundred kilograms of coffee.\n")
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 not really a PDF")
    assert main(args + ["ingest", str(notes), str(broken), "--collection", "c1"]) == 1
    captured = capsys.readouterr()
    assert f"{notes}: stored as document 2 (" in captured.out
    assert any(line.startswith(f"skipped {broken}: broken.pdf") for line in captured.err.splitlines())
    assert "stored 1, duplicates 0, failed 1 of 2 files" in captured.err

    assert main(args + ["search", "espresso machine leaks", "-k", "2", "--collection", "c1", "--json"]) == 0
    remote = json.loads(capsys.readouterr().out)
    hit = remote["results"][0]
    assert set(remote) == {"results", "timings"} and hit["filename"] == "espresso.txt"
    assert ESPRESSO[hit["char_start"] : hit["char_end"]] == hit["text"]
    assert list(hit) == [k for k in HIT_KEYS if k in hit]  # printed in the local path's key order

    assert main(args + ["search", "espresso machine leaks", "-k", "2", "--collection", "c1"]) == 0
    assert "espresso.txt (document 1), chars 0-" in capsys.readouterr().out

    # server errors are RAGErrors naming the server (exit status 2), for search and ask alike
    assert main(args + ["search", "anything", "--collection", "missing"]) == 2
    assert f"error: server http://127.0.0.1:{live.port}: " in capsys.readouterr().err
    assert main(args + ["ask", "anything?", "--collection", "missing", "--mode", "extract"]) == 2
    assert f"error: server http://127.0.0.1:{live.port}: " in capsys.readouterr().err

    # server.json copied to another data directory: the server answers for its own, so it is not used there
    other = tmp_path / "other"
    other.mkdir()
    (other / "server.json").write_text((data / "server.json").read_text())
    assert running_server(other) is None

    # once the server stops (its lifespan may remove the file), the CLI works locally again
    live.stop()
    assert running_server(data) is None
    assert main(args + ["search", "espresso machine leaks", "-k", "2", "--collection", "c1", "--json"]) == 0
    captured = capsys.readouterr()
    assert "using the server" not in captured.err
    local = json.loads(captured.out)
    assert [h["chunk_id"] for h in local["results"]] == [h["chunk_id"] for h in remote["results"]]
    for got, want in zip(remote["results"], local["results"], strict=True):
        # the REST hit leaves out title, ord and prefix_chars; every other field is the same
        assert {k: v for k, v in want.items() if k in got} == got


@pytest.mark.slow  # loads models or runs for long: the fast loop skips it, make test runs it
def test_ask_prints_the_same_through_the_server_as_locally(live, tmp_path, capsys, generator):
    args = ["--data-dir", str(live.data_dir)]
    doc = tmp_path / "espresso.txt"
    doc.write_text(ESPRESSO)
    assert main(args + ["ingest", str(doc)]) == 0
    capsys.readouterr()
    ask = args + ["ask", "How often should the boiler be descaled?", "-k", "2", "--mode", "extract"]
    assert main(ask) == 0
    remote_text = capsys.readouterr().out
    assert main(ask + ["--json"]) == 0
    remote = json.loads(capsys.readouterr().out)
    live.stop()
    assert main(ask) == 0
    assert capsys.readouterr().out == remote_text and "espresso.txt (document 1)" in remote_text
    assert main(ask + ["--json"]) == 0
    local = json.loads(capsys.readouterr().out)
    assert list(remote) == list(local)  # the same keys, in the same order
    for key in set(local) - {"timings", "passages"}:
        assert remote[key] == local[key], key
    # the REST passage leaves out some chunk fields (title, ord, heading_path, prefix_chars); the rest agree
    assert [{k: p[k] for k in q} for p, q in zip(local["passages"], remote["passages"], strict=True)] == remote[
        "passages"
    ]


def test_running_server_ignores_a_missing_or_stale_file(tmp_path):
    data = tmp_path / "data"
    assert running_server(data) is None  # no directory, no file
    data.mkdir()
    assert running_server(data) is None  # no file

    path = write_server_file(data, "0.0.0.0", 8123)
    info = read_server_file(data)
    assert path == data / "server.json" and info.url == "http://127.0.0.1:8123" and info.pid == os.getpid()
    assert [p.name for p in data.iterdir()] == ["server.json"]  # the temporary file is gone
    assert write_server_file(data, "::1", 8123) and read_server_file(data).url == "http://[::1]:8123"

    stale = {"url": "http://127.0.0.1:9", "pid": dead_pid(), "started_at": "2020-01-01T00:00:00+00:00"}
    (data / "server.json").write_text(json.dumps(stale))
    assert running_server(data) is None
    assert json.loads((data / "server.json").read_text()) == stale  # left alone for the next server
    remove_server_file(data)  # not this process's file: kept
    assert (data / "server.json").exists()

    sock = socket.socket()  # a live pid (ours) but nothing answering at the url
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    write_server_file(data, "127.0.0.1", port)
    assert running_server(data, timeout=1.0) is None
    remove_server_file(data)
    assert not (data / "server.json").exists()

    (data / "server.json").write_text("{not json")
    assert running_server(data) is None and read_server_file(data) is None


def test_a_locked_catalog_says_what_to_do(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); sys.stdin.read()",
            str(data / "catalog.duckdb"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        assert main(["--data-dir", str(data), "search", "anything"]) == 2
        err = capsys.readouterr().err
        assert f"the data directory {data} is in use by another process (pid {holder.pid})" in err
        assert f"start it again so it writes {data / 'server.json'}" in err and "--data-dir" in err
    finally:
        holder.stdin.close()
        holder.wait(30)


def test_hit_keys_are_the_local_hit_json_order():
    from types import SimpleNamespace

    from rag.store.records import StoredChunk

    chunk = StoredChunk(1, 2, "a.txt", None, 0, "text", None, 0, 4, ("h",), 0.5)
    hit = SimpleNamespace(chunk=chunk, score=0.9, dense=0.8, bm25=None, rerank=None)
    assert tuple(hit_json(hit)) == HIT_KEYS


def test_server_json_is_private_and_names_no_path(tmp_path):
    data = tmp_path / "data"
    path = write_server_file(data, "127.0.0.1", 8123)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # its secret tells this directory's server from others
    raw = json.loads(path.read_text())
    assert len(raw["secret"]) == 64 and str(data) not in json.dumps(raw)


@pytest.mark.parametrize(
    "url", ["http://203.0.113.7:8000", "http://rag.example.com:8000", "http://127.0.0.1.nip.io:8000", "file:///x"]
)
def test_a_server_json_naming_another_machine_is_not_sent_the_key(tmp_path, monkeypatch, capsys, url):
    data = tmp_path / "data"
    data.mkdir()
    info = {"url": url, "pid": os.getpid(), "started_at": "2020-01-01T00:00:00+00:00", "secret": "0" * 64}
    (data / "server.json").write_text(json.dumps(info))
    monkeypatch.setenv("RAG_API_KEY", "rag_a-key-that-must-stay-here")
    with pytest.raises(RAGError, match="--server"):
        running_server(data)  # refused before any request: not even /healthz is asked
    assert main(["--data-dir", str(data), "search", "anything"]) == 2
    assert "not on this machine" in capsys.readouterr().err


def test_the_cli_works_through_a_server_named_with_dash_dash_server(live, tmp_path, capsys):
    elsewhere = ["--data-dir", str(tmp_path / "elsewhere")]  # no server.json there: only --server names the server
    doc = tmp_path / "espresso.txt"
    doc.write_text(ESPRESSO)
    assert main(elsewhere + ["ingest", str(doc), "--collection", "c1", "--server", live.url + "/"]) == 0
    captured = capsys.readouterr()
    assert f"using the server at {live.url} (--server)" in captured.err and "stored as document 1" in captured.out
    assert main(elsewhere + ["search", "espresso", "--collection", "c1", "--server", live.url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["filename"] == "espresso.txt"
    assert not (tmp_path / "elsewhere").exists()
    assert main(elsewhere + ["search", "espresso", "--server", "127.0.0.1:8000"]) == 2
    assert "--server takes the server's base url" in capsys.readouterr().err
