"""Extractive QA examples in the SQuAD 2.0 layout, and the training mix read from ``../shared/data/qa-train``.

Only the training files named in :data:`TRAIN_FILES` are read: none shares an
article with the SQuAD 2.0 dev half, XQuAD or COVID-QA (see the folder's
SOURCE.md). ``tydiqa-goldp-en-dev.json`` is training data too, but it is kept
out of the mix and used to pick the checkpoint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.rerank.partial_state import file_sha256

# group name -> files; a group is drawn with the weight in MIX_WEIGHTS
TRAIN_FILES: dict[str, tuple[str, ...]] = {
    "squad": tuple(f"squad11-train-part{i}.json" for i in range(1, 5)),
    "negatives": ("squad11-train-negatives-a1.json", "squad11-train-negatives-a2.json"),
    "tydi": ("tydiqa-goldp-en-train.json",),
    "shifts": ("squadshifts-new-wiki.json", "squadshifts-reddit.json", "squadshifts-amazon.json"),
}
VALIDATION_FILE = "tydiqa-goldp-en-dev.json"


@dataclass(frozen=True)
class QAExample:
    """One question on one context; ``answer_start`` is None when the context does not answer it."""

    id: str
    question: str
    context: str
    answer_start: int | None
    answer_text: str
    title: str = ""

    @property
    def answer_end(self) -> int | None:
        return None if self.answer_start is None else self.answer_start + len(self.answer_text)


def read_squad(path: Path, exact_only: bool = False) -> list[QAExample]:
    """Every question of a SQuAD-layout file (the first answer of each; none for ``is_impossible``).

    ``exact_only`` drops answers whose string occurs more than once and whose
    position was inferred (``answer_occurrences`` > 1).
    """
    doc = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for article in doc["data"]:
        for para in article["paragraphs"]:
            ctx = para["context"]
            for qa in para["qas"]:
                answers = qa.get("answers") or []
                if qa.get("is_impossible") or not answers:
                    out.append(QAExample(qa["id"], qa["question"], ctx, None, "", article.get("title", "")))
                    continue
                if exact_only and qa.get("answer_occurrences", 1) > 1:
                    continue
                a = answers[0]
                out.append(
                    QAExample(qa["id"], qa["question"], ctx, int(a["answer_start"]), a["text"], article["title"])
                )
    return out


def load_groups(data: Path) -> dict[str, list[QAExample]]:
    """The training groups of :data:`TRAIN_FILES` (exact answer positions only)."""
    return {g: [e for f in files for e in read_squad(data / f, exact_only=True)] for g, files in TRAIN_FILES.items()}


def data_description(data: Path) -> dict:
    """sha256 of every file read, for the weights' metadata."""
    names = [f for files in TRAIN_FILES.values() for f in files] + [VALIDATION_FILE]
    return {name: file_sha256(data / name) for name in names}


def training_order(
    groups: dict[str, list[QAExample]], weights: dict[str, float], n: int, seed: int
) -> list[tuple[str, int]]:
    """``n`` (group, index) draws: groups in proportion to ``weights``, each group shuffled and cycled."""
    rng = np.random.default_rng(seed)
    names = [g for g in weights if groups.get(g)]
    p = np.array([weights[g] for g in names], dtype=float)
    picks = rng.choice(len(names), size=n, p=p / p.sum())
    perms = {g: rng.permutation(len(groups[g])) for g in names}
    cursor = dict.fromkeys(names, 0)
    order = []
    for k in picks:
        g = names[k]
        perm = perms[g]
        order.append((g, int(perm[cursor[g] % len(perm)])))
        cursor[g] += 1
    return order
