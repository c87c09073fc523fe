"""The embedder: passages and queries on separate paths, quiet logs, identical vectors."""

from __future__ import annotations

import logging
import os
import sys
import threading

import numpy as np
import pytest

from ingest.embed import BACKGROUND_NICE, _background

pytestmark = pytest.mark.slow  # every test here loads the embedding model


def test_a_query_never_waits_for_an_ingest_block(embedder):
    done = threading.Event()
    vectors = []

    def query():
        vectors.append(embedder.embed_query("graph-based nearest neighbour search"))
        done.set()

    with embedder._lock:  # a block of passages is being embedded for an ingest
        thread = threading.Thread(target=query, daemon=True)
        thread.start()
        assert done.wait(60), "the query waited for the ingest's lock"
    reference = embedder.embed(["graph-based nearest neighbour search"])[0]
    np.testing.assert_allclose(vectors[0], reference, atol=1e-5)


def test_query_and_passage_paths_share_the_weights(embedder):
    passage = dict(embedder.model.named_parameters())
    query = dict(embedder._query_model.named_parameters())
    assert passage.keys() == query.keys()
    assert all(query[name] is p for name, p in passage.items())  # no second copy of the model in memory


def test_embedding_draws_no_progress_bar(embedder, capfd):
    logging.getLogger("sentence_transformers").setLevel(logging.INFO)  # what a server's log level does
    try:
        embedder.embed(["one passage", "another passage"])
        embedder.embed_queries(["a query"])
    finally:
        logging.getLogger("sentence_transformers").setLevel(logging.NOTSET)
    out, err = capfd.readouterr()
    assert "Batches" not in out + err


def test_the_query_path_leaves_the_thread_count_as_it_was(embedder):
    import torch

    before = torch.get_num_threads()
    embedder.embed_query("a question")
    assert torch.get_num_threads() == before


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are a Linux feature")
def test_passages_are_embedded_at_background_priority(embedder):
    vectors = embedder.embed(["a passage about dragons", "another about mountains"])
    assert vectors.shape == (2, embedder.dim)
    nice = _background().submit(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())).result()
    assert nice >= BACKGROUND_NICE  # the ingest yields to decoding and queries
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < BACKGROUND_NICE  # the caller keeps its own
