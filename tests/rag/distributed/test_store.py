"""A platform on Ray (RAG_RAY_ADDRESS): ingest jobs parse and embed on Ray, and a sharded collection answers
dense searches exactly as one store does, with deletes, BM25, compaction, a restart and a delete reaching
every shard; a platform without Ray refuses sharded collections with a message that says what to change."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from litestar.testing import TestClient

import indexes
from core.errors import InvalidInputError, MissingDependencyError
from tests.conftest import shared_path

pytestmark = [pytest.mark.ray, pytest.mark.slow]

N_DOCS = 24


@pytest.fixture(scope="module")
def uploads():
    corpus = shared_path("scifact", "corpus.jsonl")
    out = []
    with corpus.open() as f:
        for i, line in zip(range(N_DOCS), f):
            row = json.loads(line)
            out.append((f"abstract-{i:02d}.txt", f"{row['title']}\n\n{row['text']}".encode(), "text/plain"))
    return out


def platform_at(path, ray: bool):
    from rag.platform import Platform
    from rag.settings import Settings

    return Platform(Settings.from_env().replace(data_dir=path, index_spec="Flat", ray_address="local" if ray else ""))


def run_job(platform, collection: str, files) -> dict:
    job = platform.ingest_jobs.submit(collection, files)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        row = platform.store.catalog.get_job(job.id)
        if row["status"] in ("done", "failed"):
            return row
        time.sleep(0.2)
    raise AssertionError(f"job {job.id} did not finish: {row}")


def test_a_sharded_collection_on_ray_matches_one_local_store(ray_local, tmp_path, uploads, embedder):
    sharded, local = platform_at(tmp_path / "ray", ray=True), platform_at(tmp_path / "local", ray=False)
    try:
        made = sharded.ingest_pipeline.create_collection("c", "Flat", shards=3)
        assert made.shards == 3
        row = run_job(sharded, "c", uploads)  # parsed and embedded by the Ray engine (Platform.ray_ingest)
        assert row["status"] == "done", row
        assert sharded.ingest_jobs.engine is not None and local.ingest_jobs.engine is None
        run_job(local, "c", uploads)
        cs, cl = (p.store.catalog.get_collection("c") for p in (sharded, local))
        vs = sharded.store.vectors(cs)
        counts = vs.counts()
        assert len(counts) == 3 and min(counts) > 0 and sum(counts) == local.store.catalog.count("chunks", cl.id)
        assert sorted(vs.stored_ids()) == sorted(local.store.vectors(cl).stored_ids())

        queries = ["protein folding", "cancer cell growth", "vaccine immune response", "brain imaging"]
        q = embedder.embed_queries(queries)
        got = sharded.store.search_ids(cs, q, 8)
        # Flat shards merged: exactly the ranking of one index over the same vectors
        x, ids = vs.segment_vectors()
        one = indexes.create("Flat", x.shape[1], "cosine")
        one.add(x, ids)
        want = one.search(q, 8)
        assert (got.ids == want.ids).all()
        np.testing.assert_allclose(got.scores, want.scores, atol=1e-5)
        # and the local path's (its vectors embedded in other batches: equal up to float noise, so near-ties
        # may swap places)
        local_ids = local.store.search_ids(cl, q, 8).ids
        assert np.mean([len(set(a) & set(b)) / 8 for a, b in zip(got.ids, local_ids)]) >= 0.9

        # BM25 over the shards (shard-local statistics): a title finds its own document first
        for name, data, _ in uploads[:6]:
            title = data.decode().split("\n")[0]
            hit = sharded.store.search_text(cs, [title], 3)[0][0]
            assert hit.filename == name

        # a filter and a delete reach every shard
        first = want.ids[:, 0]
        doomed_doc = sharded.store.stored_chunks(got)[0][0].document_id
        allow = np.setdiff1d(vs.stored_ids(), first)
        assert not np.isin(sharded.store.search_ids(cs, q, 8, allow=allow).ids, first).any()
        removed = sharded.store.delete_documents(cs, [doomed_doc])
        assert removed > 0 and vs.stored_count() == sum(counts) - removed
        after = sharded.store.search(cs, q, 8)
        assert all(c.document_id != doomed_doc for hits in after for c in hits)
        assert sharded.store.compact(cs).bytes_after > 0
    finally:
        local.close()
        sharded.close()

    # a restart reopens the shards from their directories; a process without Ray refuses them clearly
    again = platform_at(tmp_path / "ray", ray=True)
    try:
        cs = again.store.catalog.get_collection("c")
        assert (again.store.search_ids(cs, q, 8).ids[1:] == got.ids[1:]).all()  # query 0 lost its top document
        info = again.store.collection_info(cs)
        assert info.documents == N_DOCS - 1 and info.bytes_on_disk > 0
        again.store.delete_collection(cs)
        assert not (tmp_path / "ray" / "collections" / str(cs.id)).exists()
    finally:
        again.close()
    plain = platform_at(tmp_path / "ray2", ray=False)
    try:
        with pytest.raises(InvalidInputError, match="RAG_RAY_ADDRESS"):
            plain.ingest_pipeline.create_collection("s", shards=2)
    finally:
        plain.close()


def test_a_process_without_ray_names_what_a_sharded_collection_needs(ray_local, tmp_path):
    with_ray = platform_at(tmp_path, ray=True)
    try:
        with_ray.store.create_collection("s", 8, "fake-model", "Flat", shards=2)
    finally:
        with_ray.close()
    plain = platform_at(tmp_path, ray=False)  # opens: its start-up repair leaves the sharded collection alone
    try:
        with pytest.raises(MissingDependencyError, match="RAG_RAY_ADDRESS"):
            plain.store.vectors(plain.store.catalog.get_collection("s"))
    finally:
        plain.close()


def test_rest_creates_a_sharded_collection_and_ingests_into_it(ray_local, tmp_path, uploads, generator):
    from api.app import create_app
    from rag.platform import Platform
    from rag.settings import Settings

    settings = Settings.from_env().replace(data_dir=tmp_path / "data", ray_address="local")
    platform = Platform(settings, generator=generator)
    try:
        with TestClient(app=create_app(settings, platform=platform)) as client:
            r = client.post("/v1/collections", json={"name": "big", "index_spec": "HNSW16", "shards": 2})
            assert r.status_code == 201, r.text
            assert r.json()["shards"] == 2
            files = [("files", (name, data, media)) for name, data, media in uploads[:6]]
            r = client.post("/v1/collections/big/documents?wait=true", files=files)
            assert r.status_code == 201, r.text
            r = client.post("/v1/collections/big/search", json={"query": "cells", "k": 4})
            assert r.status_code == 200, r.text
            assert len(r.json()["results"]) == 4
            got = client.get("/v1/collections/big").json()
            assert (got["shards"], got["documents"]) == (2, 6)
            bad = client.post("/v1/collections", json={"name": "worse", "shards": 0})
            assert bad.status_code == 422 and "shards" in bad.json()["error"]["message"]
    finally:
        platform.close()
