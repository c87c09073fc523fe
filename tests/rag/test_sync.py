"""Folder sync (rag.sync): a real folder, the real store and ingest pipeline (over a hash embedder), pass by pass."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from core.errors import ConfigError, NotFoundError
from ingest.chunk import Chunker
from ingest.embed import load_tokenizer
from rag.pipeline.ingest import IngestPipeline
from rag.settings import Settings, SyncDir, parse_sync_dirs
from rag.store import Store
from rag.sync import FolderSync, Held, SyncFolderError, plan_pass, scan_folder, watch_folder
from rag.sync.state import Synced, state_path
from tests.conftest import REPO
from tests.rag.pipeline.test_ingest import HashEmbedder

ALPHA = "Descaling the espresso machine with citric acid every month keeps the boiler clean.\n"
BRAVO = "Zebras graze in herds on the African savanna and migrate with the rains.\n"
CHANGES = ("added", "replaced", "deleted", "duplicates", "failed")
CHARLIE = "The lighthouse keeper logged every passing tanker in a leather-bound book.\n"


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "data", default_index_spec="Flat")
    yield s
    s.close()


@pytest.fixture
def pipeline(store):
    return IngestPipeline(store, HashEmbedder("fake-hash", 1), Chunker(load_tokenizer(), 64, 8), 4096)


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "folder"
    path.mkdir()
    return path


def write(folder: Path, key: str, text: str) -> Path:
    path = folder / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def documents(store: Store, name: str = "docs") -> dict[str, int]:
    """The collection's documents: filename -> id."""
    collection = store.catalog.get_collection(name)
    return {d.filename: d.id for d in store.catalog.list_documents(collection.id)}


def chunk_ids(store: Store, document_id: int, name: str = "docs") -> set[int]:
    collection = store.catalog.get_collection(name)
    return {c.id for c in store.catalog.get_document(collection.id, document_id).chunks}


def found_ids(store: Store, query: str, name: str = "docs") -> set[int]:
    """Chunk ids a BM25 search for ``query`` and a dense search near every stored vector return (no catalog read)."""
    collection = store.catalog.get_collection(name)
    lexical = store.search_text_ids(collection, [query], 50).ids.ravel()
    probe = np.eye(8, dtype=np.float32)  # the hash embedder's 8 dims: together they reach every vector
    dense = store.search_ids(collection, np.concatenate([probe, -probe]), 50).ids.ravel()
    return {int(i) for i in np.concatenate([lexical, dense]) if i >= 0}


# -- the plan ----------------------------------------------------------------------------------------


def test_plan_adds_replaces_deletes_and_leaves_touched_files():
    synced = {"a.md": Synced(1, "A", 1, 1), "b.md": Synced(2, "B", 1, 1), "gone.md": Synced(3, "G", 1, 1)}
    plan = plan_pass({"a.md": "A", "b.md": "B2", "new.md": "N"}, synced, {})
    assert (plan.add, plan.replace, plan.delete, plan.unchanged) == (("new.md",), ("b.md",), ("gone.md",), ("a.md",))
    assert plan.doomed == (2, 3) and plan.ingest == ("b.md", "new.md")


def test_plan_of_a_rename_a_swap_and_duplicates():
    synced = {"a.md": Synced(1, "A", 1, 1), "b.md": Synced(2, "B", 1, 1)}
    rename = plan_pass({"b.md": "B", "c.md": "A"}, synced, {})  # a.md renamed c.md: its document goes first
    assert rename.delete == ("a.md",) and rename.add == ("c.md",) and rename.doomed == (1,)
    swap = plan_pass({"a.md": "B", "b.md": "A"}, synced, {})  # contents swapped: both stored again, no duplicate
    assert swap.replace == ("a.md", "b.md") and not swap.duplicates and swap.doomed == (1, 2)
    held = {"U": Held(9, "upload.md")}
    dup = plan_pass({"a.md": "A", "copy.md": "A", "x.md": "U", "y.md": "N", "z.md": "N"}, synced, held)
    assert dup.duplicates == {
        "copy.md": "the same bytes as a.md",
        "x.md": "the same bytes as document 9 (upload.md)",
        "z.md": "the same bytes as y.md",
    }
    assert dup.add == ("y.md",) and dup.delete == ("b.md",)


def test_plan_adopts_a_document_of_the_files_name_and_bytes():
    plan = plan_pass({"a.md": "A"}, {}, {"A": Held(4, "a.md")})  # stored by a pass that stopped before saving
    assert plan.adopt == {"a.md": 4} and not plan.add and not plan.duplicates


# -- the folder --------------------------------------------------------------------------------------


def test_scan_skips_hidden_temporary_unsupported_files_and_links_out(tmp_path, folder):
    write(folder, "a.md", ALPHA)
    write(folder, "sub/deeper/b.txt", BRAVO)
    for name in (".hidden.md", "~$report.docx", "notes.md~", ".notes.md.swp", "image.svg", ".git/config.txt"):
        write(folder, name, CHARLIE)
    outside = write(tmp_path, "outside.md", CHARLIE)
    (folder / "link-out.md").symlink_to(outside)
    (folder / "dir-out").symlink_to(tmp_path)  # would reach outside.md and the folder itself again
    (folder / "link-in.md").symlink_to(folder / "a.md")
    (folder / "loop").symlink_to(folder)
    (folder / "broken.md").symlink_to(tmp_path / "nothing.md")
    assert sorted(scan_folder(folder)) == ["a.md", "link-in.md", "sub/deeper/b.txt"]


def test_add_change_touch_delete_and_rename(store, pipeline, folder):
    write(folder, "a.md", ALPHA)
    write(folder, "sub/b.txt", BRAVO)
    sync = FolderSync(pipeline, "docs", folder)
    first = sync.run()
    assert first.added == ("a.md", "sub/b.txt") and first.counts()["unchanged"] == 0
    assert set(documents(store)) == {"a.md", "sub/b.txt"}

    write(folder, "a.md", ALPHA + "The descaler must be rinsed out twice.\n")  # changed
    os.utime(folder / "sub/b.txt", ns=(time.time_ns(), time.time_ns() + 10**9))  # touched: mtime only
    old_a = documents(store)["a.md"]
    old_chunks = chunk_ids(store, old_a)
    second = sync.run()
    assert (second.replaced, second.added, second.deleted, second.unchanged) == (("a.md",), (), (), 1)
    assert documents(store)["a.md"] != old_a and not found_ids(store, "espresso descaling") & old_chunks
    collection = store.catalog.get_collection("docs")
    assert "rinsed" in store.catalog.get_document(collection.id, documents(store)["a.md"]).chunks[0].text

    b_chunks = chunk_ids(store, documents(store)["sub/b.txt"])
    (folder / "sub/b.txt").unlink()
    third = sync.run()
    assert third.deleted == ("sub/b.txt",) and set(documents(store)) == {"a.md"}
    assert not found_ids(store, "zebras savanna") & b_chunks  # a deleted file is never found again

    (folder / "a.md").rename(folder / "renamed.md")
    fourth = sync.run()
    assert (fourth.deleted, fourth.added) == (("a.md",), ("renamed.md",))
    assert set(documents(store)) == {"renamed.md"}
    assert set(sync.run().counts().items()) == {("unchanged", 1)} | {(k, 0) for k in CHANGES}


def test_a_bad_file_fails_alone_and_is_tried_again_once_changed(store, pipeline, folder):
    write(folder, "good.md", ALPHA)
    (folder / "bad.pdf").write_bytes(b"%PDF-1.4 this is no PDF")
    (folder / "huge.txt").write_bytes(b"x" * 5000)  # over the pipeline's 4096-byte limit
    sync = FolderSync(pipeline, "docs", folder)
    report = sync.run()
    assert report.added == ("good.md",) and set(documents(store)) == {"good.md"}
    reasons = {f.file: f.reason for f in report.failed}
    assert set(reasons) == {"bad.pdf", "huge.txt"} and "RAG_MAX_UPLOAD_MB" in reasons["huge.txt"]
    assert reasons["bad.pdf"]
    assert "bad.pdf" in report.failure_message()
    again = sync.run()  # the same bytes are not parsed again, and still reported
    assert {f.file: f.reason for f in again.failed} == reasons and again.unchanged == 1
    write(folder, "bad.pdf", CHARLIE)  # wrong extension but text: a .pdf must be a PDF
    (folder / "bad.pdf").rename(folder / "fixed.txt")
    (folder / "huge.txt").write_bytes(b"y" * 100)
    fixed = sync.run()
    assert fixed.added == ("fixed.txt", "huge.txt") and not fixed.failed


def test_uploads_into_the_collection_survive_and_duplicates_wait(store, pipeline, folder):
    pipeline.open_collection("docs")
    upload = list(pipeline.ingest_files("docs", [("upload.md", lambda: CHARLIE.encode())]))[0][1]
    write(folder, "a.md", ALPHA)
    write(folder, "copy-of-a.md", ALPHA)
    write(folder, "same-as-upload.md", CHARLIE)
    sync = FolderSync(pipeline, "docs", folder, create=False, allow_empty=True)
    report = sync.run()
    assert report.added == ("a.md",)
    assert {d.file: d.of for d in report.duplicates} == {
        "copy-of-a.md": "the same bytes as a.md",
        "same-as-upload.md": f"the same bytes as document {upload.document_id} (upload.md)",
    }
    (folder / "a.md").unlink()  # its copy now stands for it
    second = sync.run()
    assert (second.deleted, second.added) == (("a.md",), ("copy-of-a.md",))
    for path in folder.iterdir():
        path.unlink()
    sync.run()
    assert documents(store) == {"upload.md": upload.document_id}  # never the sync's to delete


def test_state_lost_in_a_crash_is_found_again(store, pipeline, folder):
    write(folder, "a.md", ALPHA)
    FolderSync(pipeline, "docs", folder).run()
    collection = store.catalog.get_collection("docs")
    state_path(store.data_dir, collection.id, folder).unlink()  # the documents were stored, the state not saved
    report = FolderSync(pipeline, "docs", folder).run()
    assert report.unchanged == 1 and not report.added and list(documents(store)) == ["a.md"]
    (folder / "a.md").unlink()
    with pytest.raises(SyncFolderError, match="is empty, but 1 documents were synced from it.*--allow-empty"):
        FolderSync(pipeline, "docs", folder).run()  # an unmounted drive looks like this: nothing is deleted
    assert list(documents(store)) == ["a.md"]
    assert FolderSync(pipeline, "docs", folder, allow_empty=True).run().deleted == ("a.md",) and documents(store) == {}


def test_a_document_deleted_another_way_is_stored_again(store, pipeline, folder):
    write(folder, "a.md", ALPHA)
    sync = FolderSync(pipeline, "docs", folder)
    sync.run()
    store.delete_documents(store.catalog.get_collection("docs"), list(documents(store).values()))
    assert sync.run().added == ("a.md",) and list(documents(store)) == ["a.md"]


def test_missing_collection_and_folder(pipeline, folder, tmp_path):
    with pytest.raises(NotFoundError, match="--create"):
        FolderSync(pipeline, "docs", folder, create=False).run()
    with pytest.raises(SyncFolderError, match="is not a folder"):
        FolderSync(pipeline, "docs", tmp_path / "nowhere").run()


# -- RAG_SYNC_DIRS -----------------------------------------------------------------------------------


def test_sync_dirs_are_parsed():
    assert parse_sync_dirs(" docs:/srv/docs , mail:/srv/C:/mail ,") == (
        SyncDir("docs", Path("/srv/docs")),
        SyncDir("mail", Path("/srv/C:/mail")),
    )
    assert Settings.from_env({"RAG_SYNC_DIRS": "docs:/srv/docs"}).sync_folders == (SyncDir("docs", Path("/srv/docs")),)
    assert Settings.from_env({}).sync_folders == ()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("/srv/docs", "should be collection:folder"),
        ("docs:", "should be collection:folder"),
        (":/srv/docs", "should be collection:folder"),
        ("bad name:/srv/docs", "invalid collection name 'bad name'"),
        ("docs:/a,docs:/b", "names the collection 'docs' twice"),
    ],
)
def test_bad_sync_dirs_say_what_to_change(raw, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({"RAG_SYNC_DIRS": raw})


# -- watching ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_watch_picks_up_a_new_file_within_seconds(store, pipeline, folder):
    write(folder, "a.md", ALPHA)
    sync, stop, reports = FolderSync(pipeline, "docs", folder), threading.Event(), []

    def watch() -> None:
        for _ in watch_folder(folder, stop, debounce_ms=200):
            reports.append(sync.run())

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        _wait(lambda: reports, 20)
        assert reports[0].added == ("a.md",)
        started = time.monotonic()
        write(folder, "new/b.md", BRAVO)
        _wait(lambda: "new/b.md" in documents(store), 10)
        assert time.monotonic() - started < 10
        assert set(documents(store)) == {"a.md", "new/b.md"}
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


@pytest.mark.slow
def test_cli_sync_once_then_watch_until_ctrl_c(tmp_path, folder):
    """The real command (and its embedder) in a child process: a pass with --json, then --watch and SIGINT."""
    write(folder, "a.md", ALPHA)
    (folder / "bad.pdf").write_bytes(b"%PDF-1.4 broken")
    rag = [sys.executable, "-c", "import sys; from rag.cli import main; sys.exit(main())"]
    base = [*rag, "sync", str(folder), "--collection", "docs", "--json"]
    env = {**os.environ, "RAG_DATA_DIR": str(tmp_path / "data"), "RAG_INDEX_SPEC": "Flat"}
    missing = subprocess.run(base, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert missing.returncode == 2 and "--create" in missing.stderr
    once = subprocess.run([*base, "--create"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert once.returncode == 1, once.stderr  # bad.pdf failed, a.md was synced
    report = json.loads(once.stdout)
    assert report["added"] == ["a.md"] and report["failed"][0]["file"] == "bad.pdf" and report["n_failed"] == 1

    write(folder, "c.md", CHARLIE)
    child = subprocess.Popen(  # Ctrl-C as a terminal's foreground command gets it, whatever this process ignores
        [*base, "--watch", "--debounce", "200"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        first = json.loads(child.stdout.readline())  # its embedder loads here, for c.md
        assert first["n_unchanged"] == 1 and first["added"] == ["c.md"]
        write(folder, "b.md", BRAVO)
        (folder / "a.md").unlink()
        started = time.monotonic()
        second = json.loads(child.stdout.readline())
        assert time.monotonic() - started < 10
        assert (second["added"], second["deleted"], second["n_unchanged"]) == (["b.md"], ["a.md"], 1)
        child.send_signal(signal.SIGINT)
        assert child.wait(30) == 0
    finally:
        child.kill()


def _wait(condition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
