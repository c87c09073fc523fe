"""``rag eval beir``: set loading (BEIR and SQuAD), document ranking from chunk hits, and a smoke run."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from core.errors import ConfigError
from rag.eval.beir import load
from rag.eval.retrieval import configs, rank_documents
from tests.conftest import shared_path


def write_beir(folder: Path, corpus: list[dict], queries: list[dict], qrels: list[tuple[str, str, int]]) -> Path:
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus), encoding="utf-8")
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries), encoding="utf-8")
    rows = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{s}" for q, d, s in qrels]
    (folder / "qrels" / "test.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


def test_beir_folder_keeps_only_queries_with_a_relevant_document(tmp_path):
    corpus = [{"_id": "d1", "title": "T", "text": "one"}, {"_id": "d2", "title": "", "text": "two"}]
    queries = [{"_id": "q1", "text": "first"}, {"_id": "q2", "text": "second"}, {"_id": "q3", "text": "third"}]
    ds = load(write_beir(tmp_path / "mini", corpus, queries, [("q1", "d1", 2), ("q1", "d2", 1), ("q3", "d2", 0)]))
    assert ds.name == "mini" and ds.split == "test"
    assert [d.id for d in ds.corpus] == ["d1", "d2"]
    assert ds.queries == {"q1": "first"}  # q2 has no judgment, q3 only a non-relevant one
    assert ds.qrels == {"q1": {"d1": 2.0, "d2": 1.0}} and ds.relevant("q1") == {"d1", "d2"}
    assert ds.sample(1) is ds  # a sample as large as the set is the set


def test_squad_file_becomes_paragraphs_questions_and_qrels(tmp_path):
    squad = {
        "version": "1.1",
        "data": [
            {
                "title": "Super_Bowl_50",
                "paragraphs": [
                    {"context": "Denver won.", "qas": [{"id": "a1", "question": "Who won?", "answers": []}]},
                    {
                        "context": "It was in Santa Clara.",
                        "qas": [
                            {"id": "a2", "question": "Where was it?", "answers": []},
                            {"id": "a3", "question": "Who lost?", "answers": [], "is_impossible": True},
                        ],
                    },
                ],
            }
        ],
    }
    (tmp_path / "xq").mkdir()
    path = tmp_path / "xq" / "squad.json"
    path.write_text(json.dumps(squad), encoding="utf-8")
    for source in (path, path.parent):
        ds = load(source)
        assert ds.name == "xq"
        assert [(d.id, d.title, d.text) for d in ds.corpus] == [
            ("p0", "Super Bowl 50", "Denver won."),
            ("p1", "Super Bowl 50", "It was in Santa Clara."),
        ]
        assert ds.queries == {"a1": "Who won?", "a2": "Where was it?"}
        assert ds.qrels == {"a1": {"p0": 1.0}, "a2": {"p1": 1.0}}


def test_sample_is_seeded():
    ds = load(shared_path("scifact"))
    a, b = ds.sample(7), ds.sample(7)
    assert len(a.queries) == 7 and list(a.queries) == list(b.queries) and set(a.qrels) == set(a.queries)


def hit(document_id: int) -> SimpleNamespace:
    return SimpleNamespace(chunk=SimpleNamespace(document_id=document_id))


def test_documents_rank_at_their_best_chunk_without_the_query_itself():
    ids = {1: ["d1"], 2: ["q7"], 3: ["d3", "d3-copy"], 4: ["d4"]}
    hits = [hit(1), hit(2), hit(1), hit(3), hit(4), hit(3)]
    assert rank_documents(hits, ids, "q7") == ["d1", "d3", "d3-copy", "d4"]
    assert rank_documents(hits, ids, "q7", depth=2) == ["d1", "d3"]
    assert rank_documents(hits, ids, "other") == ["d1", "q7", "d3", "d3-copy", "d4"]


def test_unknown_configuration_names_the_known_ones():
    assert list(configs(["bm25", "dense"])) == ["bm25", "dense"]
    with pytest.raises(ConfigError, match="hybrid-convex"):
        configs(["dense", "nope"])


def scifact_slice(folder: Path, n_queries: int = 5, n_docs: int = 40) -> Path:
    """A tiny BEIR folder: ``n_queries`` SciFact test queries, their relevant documents, and others up to ``n_docs``."""
    src = shared_path("scifact")
    ds = load(src)
    qids = list(ds.queries)[:n_queries]
    wanted = {d for q in qids for d in ds.relevant(q)}
    docs = [d for d in ds.corpus if d.id in wanted]
    docs += [d for d in ds.corpus if d.id not in wanted][: n_docs - len(docs)]
    return write_beir(
        folder,
        [{"_id": d.id, "title": d.title, "text": d.text} for d in docs],
        [{"_id": q, "text": ds.queries[q]} for q in qids],
        [(q, d, int(g)) for q in qids for d, g in ds.qrels[q].items()],
    )


@pytest.mark.slow
def test_eval_beir_smoke(tmp_path):
    from rag.cli import main

    data = scifact_slice(tmp_path / "scifact-mini")
    out = tmp_path / "out" / "beir.json"
    argv = ["eval", "beir", "--data", str(data), "--configs", "dense,bm25,hybrid", "--out", str(out)]
    assert main([*argv, "--store", str(tmp_path / "store")]) == 0
    report = json.loads(out.read_text())
    assert report["dataset"] == "scifact-mini" and report["split"] == "test"
    assert report["queries"] == 5 and report["sample"] is None and report["corpus_docs"] == 40
    assert report["chunks"] >= 40
    assert [c["name"] for c in report["configs"]] == ["dense", "bm25", "hybrid"]
    for c in report["configs"]:
        for metric in ("ndcg@10", "recall@100", "mrr@10"):
            assert 0.0 <= c[metric] <= 1.0
        assert c["trained_on"] is None and c["latency_ms_p50"]["total"] > 0
    by_name = {c["name"]: c for c in report["configs"]}
    assert by_name["bm25"]["ndcg@10"] > 0 and "bm25" in by_name["bm25"]["latency_ms_p50"]
    assert "dense" in by_name["dense"]["latency_ms_p50"] and "fuse" in by_name["hybrid"]["latency_ms_p50"]
    assert out.with_suffix(".png").is_file()
    # a second run reuses the stored corpus (the done-marker) and samples queries
    assert main([*argv, "--store", str(tmp_path / "store"), "--sample", "2"]) == 0
    again = json.loads(out.read_text())
    assert again["queries"] == 2 and again["sample"] == 2 and again["chunks"] == report["chunks"]


def test_a_reranker_trained_on_scifact_is_in_domain_there_only():
    from rag.eval.beir import RetrievalSet
    from rag.eval.retrieval import CONFIGS, trained_on

    scifact, xquad = (RetrievalSet(name, "test", (), {}, {}) for name in ("scifact", "xquad-en"))
    assert trained_on(CONFIGS["hybrid+rerank"], scifact) == "SciFact train qrels (in-domain)"
    assert trained_on(CONFIGS["full"], xquad) == "SciFact train qrels (out-of-domain)"
    assert trained_on(CONFIGS["hybrid+maxsim"], scifact) is None and trained_on(CONFIGS["dense"], scifact) is None
