"""Retrieval test sets in the BEIR layout: a corpus, queries and graded relevance judgments (qrels).

:func:`load` reads either

* a BEIR folder: ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl``
  (``_id``, ``text``) and ``qrels/<split>.tsv`` (a header, then query-id, corpus-id,
  score; a score > 0 marks a relevant document, and graded scores are nDCG gains), or
* a SQuAD-format JSON file (or a folder holding one), turned into a retrieval set:
  the paragraphs are the corpus (id ``p<n>`` in file order, title = the article's
  title), the questions are the queries (id = the question's id), and each question
  is judged relevant to its own paragraph only.

Only queries with at least one relevant document in the split are kept: a query
without one has no defined nDCG or recall.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from core.errors import ConfigError, NotFoundError

SQUAD_SPLIT = "all"  # SQuAD files have no qrels splits: every answerable question is a query


@dataclass(frozen=True)
class Document:
    id: str
    title: str
    text: str


@dataclass(frozen=True)
class RetrievalSet:
    """A corpus, the queries of one split and their judgments.

    Attributes:
        name: the folder's name (``scifact``, ``xquad-en``).
        split: the qrels split (``test``), or ``all`` for a SQuAD file.
        corpus: documents in file order.
        queries: query id -> text, in file order; only queries with a relevant document.
        qrels: query id -> {document id: gain}; a gain > 0 is relevant.
    """

    name: str
    split: str
    corpus: tuple[Document, ...]
    queries: dict[str, str]
    qrels: dict[str, dict[str, float]]

    def relevant(self, query_id: str) -> set[str]:
        return {d for d, g in self.qrels[query_id].items() if g > 0}

    def corpus_sha256(self) -> str:
        """Hex digest of every document's id, title and text in order (the same for either source format)."""
        digest = hashlib.sha256()
        for doc in self.corpus:
            digest.update(json.dumps([doc.id, doc.title, doc.text], ensure_ascii=False).encode("utf-8"))
            digest.update(b"\n")
        return digest.hexdigest()

    def sample(self, n: int | None, seed: int = 0) -> RetrievalSet:
        """The same set with ``n`` queries drawn at random with ``seed`` (all when ``n`` is None or larger)."""
        if n is None or n >= len(self.queries):
            return self
        if n < 1:
            raise ConfigError(f"sample must be a positive number of queries, got {n}")
        keep = set(random.Random(seed).sample(list(self.queries), n))
        queries = {q: t for q, t in self.queries.items() if q in keep}
        return replace(self, queries=queries, qrels={q: self.qrels[q] for q in queries})


def load(path: str | Path, split: str = "test") -> RetrievalSet:
    """A BEIR folder, or a SQuAD JSON file or folder (see the module docstring)."""
    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"{path} does not exist; pass a BEIR folder or a SQuAD-format JSON file")
    if path.is_dir() and (path / "corpus.jsonl").is_file():
        return load_beir(path, split)
    if path.is_file() and path.suffix == ".json":
        return load_squad(path)
    if path.is_dir():
        found = sorted(path.glob("*.json"))
        if len(found) == 1:
            return load_squad(found[0])
    raise ConfigError(
        f"{path} is neither a BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) "
        "nor a SQuAD-format .json file (or a folder holding exactly one)"
    )


def _jsonl(path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def read_qrels(path: Path) -> dict[str, dict[str, float]]:
    """query id -> {document id: score} from a BEIR qrels TSV (header row first)."""
    qrels: dict[str, dict[str, float]] = {}
    with open(path, encoding="utf-8", newline="") as fh:
        rows = csv.reader(fh, delimiter="\t")
        next(rows, None)  # header: query-id, corpus-id, score
        for row in rows:
            if len(row) >= 3:
                qrels.setdefault(row[0], {})[row[1]] = float(row[2])
    return qrels


def load_beir(folder: Path, split: str = "test") -> RetrievalSet:
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        have = sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))
        raise NotFoundError(f"{qrels_path} does not exist; splits here: {', '.join(have) or 'none'}")
    corpus = tuple(
        Document(str(r["_id"]), r.get("title") or "", r.get("text") or "") for r in _jsonl(folder / "corpus.jsonl")
    )
    judged = read_qrels(qrels_path)
    queries = {
        str(r["_id"]): r["text"]
        for r in _jsonl(folder / "queries.jsonl")
        if any(g > 0 for g in judged.get(str(r["_id"]), {}).values())
    }
    return RetrievalSet(folder.name, split, corpus, queries, {q: judged[q] for q in queries})


def load_squad(path: Path) -> RetrievalSet:
    """A SQuAD-format file as a retrieval set; unanswerable (SQuAD 2.0) questions are left out.

    Those are written against their paragraph to look answerable from it without being so;
    judging them relevant to it would reward matching that trap rather than finding an answer.
    """
    articles = json.loads(path.read_text(encoding="utf-8"))["data"]
    corpus: list[Document] = []
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, float]] = {}
    for article in articles:
        for paragraph in article["paragraphs"]:
            pid = f"p{len(corpus)}"
            corpus.append(Document(pid, article.get("title", "").replace("_", " "), paragraph["context"]))
            for qa in paragraph["qas"]:
                if qa.get("is_impossible") or not qa["question"].strip():
                    continue
                queries[qa["id"]] = qa["question"]
                qrels[qa["id"]] = {pid: 1.0}
    name = path.parent.name if path.parent.name else path.stem
    return RetrievalSet(name, SQUAD_SPLIT, tuple(corpus), queries, qrels)
