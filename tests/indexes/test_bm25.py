"""BM25Index: hand-computed scores, agreement with bm25s, deletes, filters, the saved format."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

from core.errors import ConfigError, InvalidInputError
from indexes.errors import IndexFormatError
from indexes.lexical import BM25Index
from indexes.lexical.bm25 import MAX_SEGMENTS
from tests.conftest import shared_path

DOCS = [["a", "b", "a"], ["b", "c"], ["c", "d", "d", "d"]]
IDS = np.array([10, 20, 30])


def _index(docs=DOCS, ids=IDS, **kw) -> BM25Index:
    index = BM25Index(**kw)
    index.add(docs, ids)
    return index


def test_scores_match_the_formula_worked_by_hand():
    index = _index(k1=1.2, b=0.75)
    # N = 3, avgdl = (3 + 2 + 4) / 3 = 3.
    # idf(a) = idf(d) = ln(1 + (3 - 1 + 0.5) / (1 + 0.5)) = ln(8/3); idf(b) = idf(c) = ln(1 + 1.5 / 2.5) = ln(1.6).
    # K(doc) = k1 * (1 - b + b * dl / avgdl): K10 = 1.2 * (0.25 + 0.75) = 1.2, K20 = 1.2 * (0.25 + 0.5) = 0.9,
    # K30 = 1.2 * (0.25 + 1.0) = 1.5; a term scores idf * tf * (k1 + 1) / (tf + K).
    res = index.search([["a"], ["b", "c"], ["d", "d"], ["zzz"]], k=4)
    # "a": only doc 10, tf 2: ln(8/3) * 2 * 2.2 / (2 + 1.2) = ln(8/3) * 1.375.
    assert res.ids[0].tolist() == [10, -1, -1, -1]
    np.testing.assert_allclose(res.scores[0, 0], math.log(8 / 3) * 1.375, rtol=1e-6)
    # "b c": doc 20 has both (tf 1 each): 2 * ln(1.6) * 2.2 / (1 + 0.9);
    # doc 10 has b: ln(1.6) * 2.2 / (1 + 1.2) = ln(1.6); doc 30 has c: ln(1.6) * 2.2 / (1 + 1.5).
    assert res.ids[1].tolist() == [20, 10, 30, -1]
    expected = [2 * math.log(1.6) * 2.2 / 1.9, math.log(1.6), math.log(1.6) * 2.2 / 2.5]
    np.testing.assert_allclose(res.scores[1, :3], expected, rtol=1e-6)
    # "d d": a repeated query term counts twice: 2 * ln(8/3) * 3 * 2.2 / (3 + 1.5).
    assert res.ids[2].tolist() == [30, -1, -1, -1]
    np.testing.assert_allclose(res.scores[2, 0], 2 * math.log(8 / 3) * 6.6 / 4.5, rtol=1e-6)
    # No matching term: nothing is returned, padding is -1 / -inf.
    assert (res.ids[3] == -1).all() and np.isneginf(res.scores[3]).all()
    assert res.ids.dtype == np.int64 and res.scores.dtype == np.float32


def _scifact(n_docs=200, n_queries=100):
    from ingest.lexical import Analyzer

    analyzer = Analyzer()
    corpus_path = shared_path("scifact", "corpus.jsonl")
    with open(corpus_path, encoding="utf-8") as fh:
        rows = [json.loads(next(fh)) for _ in range(n_docs)]
    with open(shared_path("scifact", "queries.jsonl"), encoding="utf-8") as fh:
        queries = [json.loads(line)["text"] for line in fh][:n_queries]
    docs = analyzer.terms_batch([f"{r['title']}\n{r['text']}" for r in rows])
    return docs, analyzer.terms_batch(queries)


def test_scores_and_rankings_equal_bm25s_lucene():
    bm25s = pytest.importorskip("bm25s")
    docs, queries = _scifact()
    k1, b = 0.9, 0.4
    ref = bm25s.BM25(method="lucene", k1=k1, b=b)
    ref.index(docs, show_progress=False)
    index = _index(docs, np.arange(len(docs)) * 7 + 3, k1=k1, b=b)  # ids unlike rows
    res = index.search(queries, k=len(docs))
    compared = 0
    for qi, q in enumerate(queries):
        if not any(t in ref.vocab_dict for t in q):
            assert (res.ids[qi] == -1).all()
            continue
        # bm25s (like Lucene 8+) leaves out the constant (k1 + 1) factor of the classic formula.
        expected = ref.get_scores(q) * (k1 + 1)
        found = res.ids[qi] >= 0
        rows = (res.ids[qi][found] - 3) // 7
        assert set(rows.tolist()) == set(np.flatnonzero(expected > 0).tolist())
        np.testing.assert_allclose(res.scores[qi][found], expected[rows], rtol=1e-4)
        # Rankings: every result is at least as good as the next (ties aside, bm25s's order).
        assert (np.diff(res.scores[qi][found]) <= 0).all()
        top = np.argsort(-expected, kind="stable")[: found.sum()]
        np.testing.assert_allclose(np.sort(expected[top])[::-1], res.scores[qi][found], rtol=1e-4)
        compared += 1
    assert compared > 50


def test_delete_hides_documents_and_compact_equals_a_fresh_build():
    docs = DOCS + [["a", "c"], ["b", "b", "e"]]
    index = _index(docs, np.array([10, 20, 30, 40, 50]))
    before = index.search([["b", "c"]], 5)
    assert index.delete([20, 20, 99]) == 1 and index.delete([20]) == 0
    assert len(index) == 4 and index.n_stored == 5
    after = index.search([["b", "c"]], 5)
    assert 20 not in after.ids
    # Until compaction N, avgdl and df still count the deleted row (as Lucene): other scores are unchanged.
    for i, s in zip(after.ids[0], after.scores[0]):
        if i >= 0:
            assert s == before.scores[0][list(before.ids[0]).index(i)]
    index.compact()
    assert len(index) == index.n_stored == 4
    fresh = _index([d for d, i in zip(docs, [10, 20, 30, 40, 50]) if i != 20], np.array([10, 30, 40, 50]))
    q = [["b", "c"], ["a"], ["e", "d"]]
    got, want = index.search(q, 5), fresh.search(q, 5)
    np.testing.assert_array_equal(got.ids, want.ids)
    np.testing.assert_allclose(got.scores, want.scores, rtol=1e-6)
    # A deleted id may be used again once compacted, not before.
    index.delete([30])
    with pytest.raises(InvalidInputError, match="compact"):
        index.add([["x"]], np.array([30]))
    index.compact()
    index.add([["x"]], np.array([30]))
    assert index.search([["x"]], 1).ids[0, 0] == 30


def test_allow_filter_by_ids_and_by_mask():
    index = _index()
    q = [["b", "c"]]
    assert index.search(q, 3, allow=[10, 30]).ids[0].tolist() == [10, 30, -1]
    mask = np.zeros(25, dtype=bool)
    mask[20] = True
    assert index.search(q, 3, allow=mask).ids[0].tolist() == [20, -1, -1]  # ids past the mask are not allowed
    assert (index.search(q, 3, allow=[]).ids == -1).all()


def test_save_and_load_round_trip_and_add_after_load(tmp_path):
    index = _index()
    index.delete([30])
    index.save(tmp_path / "ix")
    meta = json.loads((tmp_path / "ix" / "meta.json").read_text())
    assert (meta["format"], meta["version"], meta["count"], meta["n_segments"]) == ("bm25", 1, 2, 1)
    q = [["b", "c"], ["a", "d"], ["c"]]
    for mmap in (True, False):
        loaded = BM25Index.load(tmp_path / "ix", mmap=mmap)
        assert len(loaded) == 2 and (loaded.k1, loaded.b) == (index.k1, index.b)
        got, want = loaded.search(q, 3), index.search(q, 3)
        np.testing.assert_array_equal(got.ids, want.ids)
        np.testing.assert_array_equal(got.scores, want.scores)
    loaded = BM25Index.load(tmp_path / "ix", mmap=True)
    loaded.add([["c", "é", "日"], ["b"]], np.array([40, 50]))  # new terms after a memory-mapped load
    assert loaded.delete([10]) == 1
    loaded.save(tmp_path / "ix2")
    # The unchanged segment is linked, not copied.
    assert (tmp_path / "ix2" / "s000001.rows.npy").stat().st_ino == (tmp_path / "ix" / "s000001.rows.npy").stat().st_ino
    again = BM25Index.load(tmp_path / "ix2")
    assert len(again) == 3
    q = [["日"], ["é", "b"], ["a"], ["c"]]
    np.testing.assert_array_equal(again.search(q, 4).ids, loaded.search(q, 4).ids)
    assert again.search([["日"]], 1).ids[0, 0] == 40
    again.compact()
    fresh = _index([DOCS[1], ["c", "é", "日"], ["b"]], np.array([20, 40, 50]))
    np.testing.assert_allclose(again.search(q, 4).scores, fresh.search(q, 4).scores, rtol=1e-6)


def test_unknown_format_or_version_is_refused(tmp_path):
    _index().save(tmp_path / "ix")
    for key, value, message in (("version", 2, "version 2"), ("format", "rag-index", "expected 'bm25'")):
        shutil.copytree(tmp_path / "ix", tmp_path / key)
        meta = json.loads((tmp_path / key / "meta.json").read_text())
        meta[key] = value
        (tmp_path / key / "meta.json").write_text(json.dumps(meta))
        with pytest.raises(IndexFormatError, match=message):
            BM25Index.load(tmp_path / key)
    (tmp_path / "ix" / "s000001.tf.npy").unlink()
    with pytest.raises(IndexFormatError, match="incomplete"):
        BM25Index.load(tmp_path / "ix")


def test_empty_index_and_k_beyond_the_matches(tmp_path):
    empty = BM25Index()
    assert len(empty) == 0 and (empty.search([["a"], []], 3).ids == -1).all()
    empty.save(tmp_path / "empty")
    assert len(BM25Index.load(tmp_path / "empty")) == 0
    res = _index().search([["a"]], 50)
    assert res.ids.shape == (1, 50) and res.ids[0, 0] == 10 and (res.ids[0, 1:] == -1).all()


def test_many_small_adds_stay_few_segments_and_score_as_one_batch():
    rng = np.random.default_rng(0)
    vocab = [f"t{i}" for i in range(300)]
    docs = [list(rng.choice(vocab, size=rng.integers(1, 30))) for _ in range(600)]
    index, start = BM25Index(), 0
    while start < len(docs):
        n = int(rng.integers(1, 6))
        index.add(docs[start : start + n], np.arange(start, min(start + n, len(docs))))
        start += n
    assert len(index._segments) <= MAX_SEGMENTS
    one = _index(docs, np.arange(len(docs)))
    q = [list(rng.choice(vocab, size=4)) for _ in range(20)]
    got, want = index.search(q, 10), one.search(q, 10)
    np.testing.assert_allclose(got.scores, want.scores, rtol=1e-5)


def test_invalid_parameters_and_inputs_raise_clear_errors():
    with pytest.raises(ConfigError, match="k1"):
        BM25Index(k1=-1)
    with pytest.raises(ConfigError, match="b must"):
        BM25Index(b=1.5)
    index = _index()
    with pytest.raises(InvalidInputError, match="already in the index"):
        index.add([["x"]], np.array([20]))
    with pytest.raises(InvalidInputError, match="unique"):
        index.add([["x"], ["y"]], np.array([7, 7]))
    with pytest.raises(InvalidInputError, match="not strings"):
        index.add(["raw text"], np.array([8]))
    with pytest.raises(InvalidInputError, match="not strings"):
        index.search(["raw query"], 3)
    with pytest.raises(ConfigError, match="k must"):
        index.search([["a"]], 0)
