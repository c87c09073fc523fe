"""The ingest pipeline: a batch is one write, and a collection keeps the embedder that wrote it."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import InvalidInputError
from ingest.chunk import Chunker
from ingest.embed import load_tokenizer
from rag.pipeline.ingest import IngestPipeline
from rag.store import Store
from rag.store.records import DocumentToAdd, NewDocument


class HashEmbedder:
    """A unit vector per text from a hash of it, tagged with a model name (a fake embedder)."""

    dim = 8

    def __init__(self, model_name: str, salt: int) -> None:
        self.model_name = model_name
        self.salt = salt
        self.calls = 0

    def embed(self, texts, progress=None):
        self.calls += 1
        out = np.stack(
            [np.random.default_rng([self.salt, sum(map(ord, t))]).standard_normal(self.dim) for t in texts]
        ).astype(np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "data", default_index_spec="Flat")
    yield s
    s.close()


def _pipeline(store, embedder, embedder_for=None):
    return IngestPipeline(store, embedder, Chunker(load_tokenizer(), 64, 8), 1 << 20, embedder_for)


def ingest(pipeline, collection, files):
    """The write path of a job's turn: check, parse, then embed and store the batch as one write."""
    media = pipeline.check(collection, files)
    prepared = [pipeline.prepare(name, data, m) for (name, data, _), m in zip(files, media)]
    coll = pipeline.open_collection(collection)
    return pipeline.store_batch(coll, pipeline.embed_batch(coll, prepared))


def test_a_batch_of_files_is_stored_by_one_append(store):
    fp32 = HashEmbedder("mini", 1)
    pipeline = _pipeline(store, fp32)
    files = [(f"f{i}.txt", f"Document number {i} talks about topic {i}.".encode(), None) for i in range(5)]
    files.append(("again.txt", files[0][1], None))  # the same bytes twice in one batch
    results = ingest(pipeline, "c", files)
    assert fp32.calls == 1  # every chunk of the batch embedded in one call
    assert [r.duplicate for r in results] == [False] * 5 + [True] and results[5].document_id == results[0].document_id
    coll = store.catalog.get_collection("c")
    assert len(store.vectors(coll).manifest.runs) == 1 and len(store.vectors(coll)) == 5


def test_int8_vectors_never_join_a_collection_of_fp32_ones(store):
    fp32, int8 = HashEmbedder("mini", 1), HashEmbedder("mini@int8", 2)
    ingest(_pipeline(store, fp32), "c", [("a.txt", b"Alpha text about the first subject.", None)])
    coll = store.catalog.get_collection("c")
    assert coll.embed_model == "mini"
    # A platform whose default embedder is int8 embeds uploads to this collection with fp32, its own.
    later = _pipeline(store, int8, {"mini": fp32}.__getitem__)
    ingest(later, "c", [("b.txt", b"Beta text about another subject.", None)])
    assert int8.calls == 0 and fp32.calls == 2
    vectors, ids = store.vectors(coll).segment_vectors()
    np.testing.assert_allclose(vectors[-1:], fp32.embed(["Beta text about another subject."]), atol=1e-6)
    # A new collection is written by the default (int8) embedder and records it.
    ingest(later, "d", [("c.txt", b"Gamma text.", None)])
    assert store.catalog.get_collection("d").embed_model == "mini@int8" and int8.calls == 1
    # Without a way to load the collection's embedder, the upload is refused with a clear message.
    with pytest.raises(InvalidInputError, match="holds vectors of mini.*RAG_EMBED_QUANT"):
        ingest(_pipeline(store, int8), "c", [("d.txt", b"Delta text.", None)])
    # And the store refuses vectors labelled with another embedder.
    doc = NewDocument("e.txt", "text/plain", "e" * 64, 5, None, None, "Epsilon")
    with pytest.raises(InvalidInputError, match="holds vectors of mini; these are of mini@int8"):
        store.add_documents(coll, [DocumentToAdd(doc, [], np.empty((0, 8), np.float32))], embed_model="mini@int8")
    assert store.catalog.count("chunks", coll.id) == 2


def test_ingest_files_goes_batch_by_batch_and_skips_what_cannot_be_read(store):
    fp32 = HashEmbedder("mini", 1)
    pipeline = _pipeline(store, fp32)

    def unreadable():
        raise OSError("permission denied (simulated)")

    files = [(f"f{i}.txt", (lambda i=i: f"File {i} is about subject {i}.".encode())) for i in range(7)]
    files[3] = ("locked.txt", unreadable)
    files[5] = ("empty.txt", lambda: b"   ")
    outcomes = list(pipeline.ingest_files("c", files, batch=3))
    assert [name for name, _ in outcomes] == [name for name, _ in files]
    assert isinstance(outcomes[3][1], OSError) and isinstance(outcomes[5][1], InvalidInputError)
    stored = [r for _, r in outcomes if not isinstance(r, Exception)]
    assert len(stored) == 5 and not any(r.duplicate for r in stored)
    assert fp32.calls == 3  # one embedding call per batch of three
    coll = store.catalog.get_collection("c")
    assert store.catalog.count("chunks", coll.id) == 5 and len(store.vectors(coll)) == 5
