"""``rag eval beir`` on queries past 4,000 characters: BEIR ArguAna's are whole arguments, 6 of them that long."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.eval.beir import load
from tests.conftest import shared_path
from tests.rag.eval.test_beir_eval import write_beir

OLD_LIMIT = 4000  # characters: the limit that made the evaluation die


def arguana_long_slice(folder: Path, n_docs: int = 30) -> tuple[Path, int]:
    """A BEIR folder of ArguAna's queries over 4,000 characters, their counter-arguments and other arguments."""
    ds = load(shared_path("beir-arguana"))
    qids = [q for q, text in ds.queries.items() if len(text) > OLD_LIMIT]
    wanted = {d for q in qids for d in ds.relevant(q)} | set(qids)  # a query is an argument of the corpus too
    docs = [d for d in ds.corpus if d.id in wanted]
    docs += [d for d in ds.corpus if d.id not in wanted][: n_docs - len(docs)]
    path = write_beir(
        folder,
        [{"_id": d.id, "title": d.title, "text": d.text} for d in docs],
        [{"_id": q, "text": ds.queries[q]} for q in qids],
        [(q, d, int(g)) for q in qids for d, g in ds.qrels[q].items()],
    )
    return path, len(qids)


@pytest.mark.slow
def test_eval_beir_runs_on_queries_past_4000_characters(tmp_path):
    from rag.cli import main

    data, n_long = arguana_long_slice(tmp_path / "arguana-long")
    assert n_long == 6 and min(len(t) for t in load(data).queries.values()) > OLD_LIMIT
    out = tmp_path / "beir.json"
    argv = ["eval", "beir", "--data", str(data), "--configs", "dense,bm25,hybrid+rerank", "--out", str(out)]
    assert main([*argv, "--store", str(tmp_path / "store")]) == 0  # it died: "query is 4671 characters"
    report = json.loads(out.read_text())
    assert report["queries"] == n_long and [c["name"] for c in report["configs"]] == ["dense", "bm25", "hybrid+rerank"]
    for c in report["configs"]:
        assert 0.0 < c["ndcg@10"] <= 1.0 and c["recall@100"] > 0.5  # the counter-arguments are found
