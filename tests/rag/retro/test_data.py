"""The retro database: chunking, the held-out split, the neighbour exclusions and the 8-gram deduplication."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.errors import ConfigError
from rag.retro.data import (
    Database,
    NeighbourSearch,
    build_database,
    held_out,
    neighbour_tokens,
    ngram_hashes,
    shares_ngram,
    training_ngrams,
)

TOPICS = [
    "Glaciers retreat when summer melting exceeds winter snowfall, and the exposed valleys fill with lakes.",
    "Honey bees communicate the direction of flowers with a waggle dance performed inside the dark hive.",
    "The printing press spread pamphlets across Europe and changed how arguments about religion travelled.",
    "Volcanic ash in the stratosphere reflects sunlight and cooled the northern hemisphere after 1815.",
    "Octopuses change the colour of their skin within a fraction of a second using cells called chromatophores.",
    "Steam engines drained flooded coal mines long before they pulled trains across the countryside.",
    "Migratory birds use the earth's magnetic field and the stars to keep their course at night.",
    "Sourdough bread rises because wild yeasts and lactic bacteria ferment the sugars in the flour.",
]


@pytest.fixture(scope="module")
def tokenizer():
    from core.errors import MissingDependencyError
    from rag.model.gguf_file import GGUFFile, default_gguf_path
    from rag.model.tokenizer import GGUFTokenizer

    try:
        path = default_gguf_path()
    except MissingDependencyError as exc:
        pytest.skip(str(exc))
    with GGUFFile(path) as f:
        return GGUFTokenizer(f.metadata)


@pytest.fixture(scope="module")
def db(tmp_path_factory, tokenizer, embedder):
    root = tmp_path_factory.mktemp("beir")
    with (root / "corpus.jsonl").open("w") as f:
        for i, text in enumerate(TOPICS):
            f.write(json.dumps({"_id": f"d{i}", "title": f"Topic {i}", "text": " ".join([text] * 4)}) + "\n")
    return build_database(root, tokenizer, embedder.embed, chunk=16, fraction=0.3, seed=1)


def test_the_split_is_a_stable_hash_of_the_id():
    assert held_out("d3", 0.5, 0) == held_out("d3", 0.5, 0)
    share = np.mean([held_out(f"doc{i}", 0.1, 0) for i in range(5000)])
    assert 0.08 < share < 0.12
    assert [held_out(f"d{i}", 0.3, 1) for i in range(8)] != [held_out(f"d{i}", 0.3, 2) for i in range(8)]


def test_chunks_cover_each_document_and_never_cross_it(db):
    assert db.held_out.any() and (~db.held_out).any()  # both kinds exist in this corpus and split
    for c in range(len(db.chunk_start)):
        d = db.chunk_doc[c]
        assert db.doc_start[d] <= db.chunk_start[c] < db.doc_start[d + 1]
        assert len(db.neighbour(c, 32)) <= 32 and db.chunk_start[c] + len(db.neighbour(c, 32)) <= db.doc_start[d + 1]
    assert np.allclose(np.linalg.norm(db.keys, axis=1), 1.0, atol=1e-3)


def test_save_and_load(db, tmp_path):
    db.save(tmp_path / "db.npz")
    again = Database.load(tmp_path / "db.npz")
    assert np.array_equal(again.tokens, db.tokens) and np.array_equal(again.keys, db.keys) and again.chunk == 16


def test_clean_neighbours_come_from_other_training_documents(db):
    search = NeighbourSearch(db)
    for held in (False, True):
        starts = db.sequences(32, held=held)
        ids = search(starts, 32, 2, 32)
        assert (ids >= 0).all()
        for row, s in enumerate(starts):
            doc = db.chunk_doc[db.chunk_at(int(s))]
            assert not db.held_out[db.chunk_doc[ids[row]]].any()  # never a held-out document
            assert (db.chunk_doc[ids[row]] != doc).all()  # never the sequence's own document


def test_leaky_neighbours_avoid_only_the_sequence_span(db):
    search = NeighbourSearch(db)
    starts = db.sequences(32, held=True)
    ids = search(starts, 32, 3, 32, scope="leaky")
    own_doc = 0
    for row, s in enumerate(starts):
        for c in ids[row].ravel():
            lo = int(db.chunk_start[c])
            assert lo + 32 <= s or lo >= s + 32  # no overlap with the sequence itself
            own_doc += db.chunk_doc[c] == db.chunk_doc[db.chunk_at(int(s))]
    assert own_doc > 0  # the rest of the document is retrievable: that is the leak measured


def test_document_scope_allows_the_rest_of_the_own_training_document(db):
    search = NeighbourSearch(db)
    starts = db.sequences(32, held=False)
    ids = search(starts, 32, 3, 32, scope="document")
    own_doc = 0
    for row, s in enumerate(starts):
        assert not db.held_out[db.chunk_doc[ids[row][ids[row] >= 0]]].any()  # training documents only
        for c in ids[row][ids[row] >= 0]:
            lo = int(db.chunk_start[c])
            assert lo + 32 <= s or lo >= s + 32
            own_doc += db.chunk_doc[c] == db.chunk_doc[db.chunk_at(int(s))]
    assert own_doc > 0
    with pytest.raises(ConfigError, match="scope"):
        search(starts, 32, 3, 32, scope="everything")


def test_neighbour_tokens_pad_missing_neighbours(db):
    tokens, valid = neighbour_tokens(db, np.array([[0, -1]]), 8)
    assert tokens.shape == (1, 2, 8) and valid[0, 0].all() and not valid[0, 1].any()
    assert tokens[0, 0].tolist() == db.neighbour(0, 8).tolist()


def test_eight_gram_dedup_finds_shared_text(db):
    assert len(ngram_hashes(np.arange(7))) == 0 and len(ngram_hashes(np.arange(9))) == 2
    known = training_ngrams(db)
    train_seq = db.sequences(32, held=False)
    held_seq = db.sequences(32, held=True)
    assert shares_ngram(db, train_seq, 32, known).all()  # training text shares n-grams with itself
    assert not shares_ngram(db, held_seq, 32, known).any()  # the topics here share no 8 tokens in a row


def test_continuation_neighbours_hold_the_text_the_attending_tokens_predict(db):
    from rag.retro.data import with_continuations

    starts = db.sequences(64, held=False)
    ids = NeighbourSearch(db)(starts, 64, 2, 32, scope="document")
    mixed = with_continuations(db, starts, ids, 0.5, seed=3)
    assert (mixed[:, :, 1] == ids[:, :, 1]).all() and (mixed[:, -1] == ids[:, -1]).all()  # slot 0 of u < C-1 only
    changed = np.argwhere(mixed[:, :-1, 0] != ids[:, :-1, 0])
    assert 0.2 < len(changed) / mixed[:, :-1, 0].size < 0.8
    for row, u in changed:
        nb = db.neighbour(int(mixed[row, u, 0]), 32)
        # chunk u's neighbours are read while predicting chunk u+1: this one starts with exactly that text
        want = db.tokens[starts[row] + (u + 1) * db.chunk : starts[row] + (u + 2) * db.chunk]
        assert (nb[: db.chunk] == want).all()
    assert (with_continuations(db, starts, ids, 0.0, seed=3) == ids).all()
