"""``ray_ingest``: the same documents, chunks and vectors as the local path; a bad file fails alone."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import shared_path

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    corpus = shared_path("scifact", "corpus.jsonl")
    root = tmp_path_factory.mktemp("files")
    with corpus.open() as f:
        for i, line in zip(range(20), f):
            row = json.loads(line)
            (root / f"doc{i:02d}.txt").write_text(f"{row['title']}\n\n{row['text']}")
    (root / "doc05-copy.txt").write_bytes((root / "doc05.txt").read_bytes())  # a duplicate
    (root / "broken.pdf").write_bytes(b"%PDF-1.4 not a pdf at all")  # fails to parse
    return sorted(root.iterdir())


def platform_at(path: Path):
    from rag.platform import Platform
    from rag.settings import Settings

    return Platform(Settings.from_env().replace(data_dir=path, index_spec="Flat"))


def test_ray_ingest_matches_the_local_path(ray_local, tmp_path, files):
    from rag.distributed.ingest import ray_ingest

    local, remote = platform_at(tmp_path / "local"), platform_at(tmp_path / "ray")
    try:
        want = dict(local.ingest_pipeline.ingest_files("c", [(p.name, p.read_bytes) for p in files]))
        got = {Path(p).name: r for p, r in ray_ingest(remote.ingest_pipeline, "c", files, batch=8)}
        assert list(got) == [p.name for p in files]
        assert isinstance(got["broken.pdf"], Exception) and "PDF" in str(got["broken.pdf"])
        assert isinstance(want["broken.pdf"], Exception)
        for name, r in want.items():
            if isinstance(r, Exception):
                continue
            g = got[name]
            assert (g.document_id, g.duplicate, g.n_chunks) == (r.document_id, r.duplicate, r.n_chunks), name
        assert got["doc05.txt"].duplicate  # "doc05-copy.txt" sorts first and is the one stored
        # the same catalog rows and vectors under the same ids
        cl, cr = (p.store.catalog.find_collection("c") for p in (local, remote))
        assert (cl.embed_model, cl.dim, cl.index_spec) == (cr.embed_model, cr.dim, cr.index_spec)
        rows_l = local.store.catalog.chunk_texts(cl.id)
        rows_r = remote.store.catalog.chunk_texts(cr.id)
        assert [list(a) for a in rows_l] == [list(b) for b in rows_r]
        xl, il = local.store.vectors(cl).segment_vectors()
        xr, ir = remote.store.vectors(cr).segment_vectors()
        ol, orr = np.argsort(il), np.argsort(ir)
        assert (il[ol] == ir[orr]).all()
        # the same text embedded in other batches: equal up to padding and reduced-precision noise
        assert np.einsum("ij,ij->i", xl[ol], xr[orr]).min() > 0.999

        again = dict(ray_ingest(remote.ingest_pipeline, "c", files[-3:]))  # a rerun stores nothing twice
        assert all(r.duplicate for r in again.values())
    finally:
        local.close()
        remote.close()


def embedding_worker_pids() -> list[int]:
    """Processes of the Ray embedding actors (their title names the actor class), read from /proc."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and b"EmbedActor" in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
        except OSError:  # gone meanwhile
            continue
    return pids


def test_a_killed_embedding_worker_loses_no_acknowledged_document(ray_local, tmp_path):
    """SIGKILL an embedding actor's process after the first documents are acknowledged, while the others are
    still being embedded: its batch is retried on a restarted actor, every file ends stored, and every
    acknowledged document is in the catalog with all its chunks and vectors."""
    from rag.distributed.ingest import ray_ingest

    corpus = shared_path("scifact", "corpus.jsonl")
    root = tmp_path / "files"
    root.mkdir()
    with corpus.open() as f:
        for i, line in zip(range(60), f):
            row = json.loads(line)
            (root / f"d{i:02d}.txt").write_text(f"{row['title']}\n\n{row['text']}")
    files = sorted(root.iterdir())
    platform = platform_at(tmp_path / "data")
    try:
        acknowledged, killed = {}, None
        # one document per embedding call, four per store write: the run lasts long enough to be cut
        for path, result in ray_ingest(platform.ingest_pipeline, "c", files, batch=4, embed_batch_docs=1, workers=2):
            if killed is None:
                pids = embedding_worker_pids()
                assert pids, "no embedding worker process found"
                killed = pids[0]
                os.kill(killed, signal.SIGKILL)
                killed_after = len(acknowledged) + 1
            assert not isinstance(result, Exception), (path, result)
            acknowledged[Path(path).name] = result
        assert killed_after < len(files) // 2  # the kill came while most documents were still to embed
        deadline = time.monotonic() + 5
        while killed in embedding_worker_pids() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert killed not in embedding_worker_pids()

        assert sorted(acknowledged) == [p.name for p in files]
        store = platform.store
        c = store.catalog.get_collection("c")
        assert store.catalog.count("documents", c.id) == len(files)
        stored = {d.id: d.filename for d in store.catalog.list_documents(c.id)}
        for name, r in acknowledged.items():
            assert stored.get(r.document_id) == name
        n_chunks = sum(r.n_chunks for r in acknowledged.values())
        assert store.catalog.count("chunks", c.id) == n_chunks == store.vectors(c).stored_count()
        assert set(store.vectors(c).stored_ids()) == set(store.catalog.chunk_ids(c.id))
    finally:
        platform.close()
