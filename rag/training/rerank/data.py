"""SciFact (BEIR layout) for reranker training: the corpus, the train claims and their judgements.

Only ``qrels/train.tsv`` is ever opened: the test judgements and the test
claims are never read, so nothing of the evaluation set leaks into training.
``queries.jsonl`` holds train and test claims together; only the claims whose
ids occur in the train qrels are kept (their evidence ``metadata`` is dropped).
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import ConfigError, NotFoundError

TRAIN_QRELS = Path("qrels") / "train.tsv"  # the only judgements training may read
DATA_FILES = ("queries.jsonl", str(TRAIN_QRELS), "corpus.jsonl")  # hashed into the weights' metadata


@dataclass(frozen=True)
class Corpus:
    """Documents in file order: ``doc_ids[i]`` names ``texts[i]`` (title + " " + abstract)."""

    doc_ids: list[str]
    texts: list[str]

    def __len__(self) -> int:
        return len(self.doc_ids)


@dataclass(frozen=True)
class TrainSet:
    """Train claims (``queries``: id -> text) and their relevant doc ids (``qrels``: id -> set)."""

    queries: dict[str, str]
    qrels: dict[str, set[str]] = field(repr=False)

    def split(self, fraction: float, seed: int) -> tuple[TrainSet, TrainSet]:
        """(train, validation): a seeded ``fraction`` of the claims held out, whole claims at a time."""
        if not 0.0 < fraction < 1.0:
            raise ConfigError(f"validation fraction must lie in (0, 1), got {fraction}")
        ids = sorted(self.queries, key=_numeric_first)
        random.Random(seed).shuffle(ids)
        n_val = max(1, round(len(ids) * fraction))
        return self._subset(ids[n_val:]), self._subset(ids[:n_val])

    def _subset(self, ids: list[str]) -> TrainSet:
        keep = sorted(ids, key=_numeric_first)
        return TrainSet({q: self.queries[q] for q in keep}, {q: self.qrels[q] for q in keep})

    def pairs(self) -> list[tuple[str, str]]:
        """Every (query id, relevant doc id), in a fixed order."""
        return [(q, d) for q in self.queries for d in sorted(self.qrels[q], key=_numeric_first)]


def _numeric_first(s: str) -> tuple[int, str]:
    return (int(s), s) if s.isdigit() else (1 << 62, s)


def _require(path: Path) -> Path:
    if not path.is_file():
        raise NotFoundError(f"{path} does not exist: pass --data pointing at a BEIR SciFact folder")
    return path


def load_corpus(root: Path) -> Corpus:
    """``corpus.jsonl`` under ``root``, each text ``title + " " + text``."""
    ids, texts = [], []
    with _require(root / "corpus.jsonl").open(encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            ids.append(str(doc["_id"]))
            texts.append(f"{doc.get('title', '')} {doc['text']}".strip())
    return Corpus(ids, texts)


def read_train_qrels(root: Path) -> dict[str, set[str]]:
    """query id -> relevant doc ids (score > 0), from ``qrels/train.tsv`` only."""
    qrels: dict[str, set[str]] = {}
    with _require(root / TRAIN_QRELS).open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t")
        header = next(reader)
        if header[:2] != ["query-id", "corpus-id"]:
            raise ConfigError(f"{root / TRAIN_QRELS} does not start with the BEIR header query-id, corpus-id, score")
        for row in reader:
            if len(row) >= 3 and float(row[2]) > 0:
                qrels.setdefault(row[0], set()).add(row[1])
    return qrels


def load_train_set(root: Path) -> TrainSet:
    """The train claims of a BEIR SciFact folder with their judgements.

    Args:
        root: folder holding ``queries.jsonl`` and ``qrels/train.tsv``.

    Raises:
        NotFoundError: a file is missing.
        ConfigError: a judged claim has no text in ``queries.jsonl``.
    """
    qrels = read_train_qrels(root)
    queries: dict[str, str] = {}
    with _require(root / "queries.jsonl").open(encoding="utf-8") as f:
        for line in f:
            q = json.loads(line)
            if str(q["_id"]) in qrels:  # test claims are skipped unread beyond their id
                queries[str(q["_id"])] = q["text"]
    missing = sorted(set(qrels) - set(queries))
    if missing:
        raise ConfigError(f"{len(missing)} judged train claims have no text in queries.jsonl (e.g. {missing[:3]})")
    order = sorted(queries, key=_numeric_first)
    return TrainSet({q: queries[q] for q in order}, {q: qrels[q] for q in order})
