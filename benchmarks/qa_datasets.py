"""Question-answering sets for answer-quality benchmarks, split so that tuning never sees a test question.

Each question comes with its gold paragraph and ``DISTRACTORS`` other paragraphs
of the same article (as a retriever returns them), in a seeded random order.

* ``tune``: SQuAD 2.0 dev half (``squad2-dev-subset``), answerable questions of
  its first 8 articles (Normans ... Harvard_University);
* ``squad-test``: answerable questions of its last 8 articles (Yuan_dynasty ... Force);
* ``xquad-test``: XQuAD-en, from the 32 articles that are not in the SQuAD dev
  half at all (XQuAD holds all 16 of those, so they are left out).

Questions are drawn with a fixed seed, at most one per paragraph.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

from benchmarks.datasets import SHARED_DATA

SQUAD = SHARED_DATA / "squad2-dev-subset" / "dev-v2.0.json"
XQUAD = SHARED_DATA / "xquad-en" / "xquad.en.json"
SPLITS = ("tune", "squad-test", "xquad-test")
DISTRACTORS = 2


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answers: tuple[str, ...]  # the reference answers
    passages: tuple[str, ...]  # the gold paragraph and the distractors, in prompt order
    title: str


def questions(split: str, n: int, seed: int = 0) -> list[Question]:
    """``n`` answerable questions of ``split`` (see the module docstring), at most one per paragraph."""
    if split not in SPLITS:
        raise SystemExit(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    squad = json.loads(SQUAD.read_text(encoding="utf-8"))["data"]
    if split == "xquad-test":
        seen = {a["title"] for a in squad}
        articles = [a for a in json.loads(XQUAD.read_text(encoding="utf-8"))["data"] if a["title"] not in seen]
    else:
        half = len(squad) // 2
        articles = squad[:half] if split == "tune" else squad[half:]
    rng = random.Random(seed)
    candidates = []
    for article in articles:
        contexts = [p["context"] for p in article["paragraphs"]]
        for i, paragraph in enumerate(article["paragraphs"]):
            answerable = [q for q in paragraph["qas"] if not q.get("is_impossible") and q["answers"]]
            if answerable and len(contexts) > DISTRACTORS:
                candidates.append((article["title"], contexts, i, rng.choice(answerable)))
    out = []
    for title, contexts, i, qa in rng.sample(candidates, min(n, len(candidates))):
        passages = [contexts[i], *rng.sample(contexts[:i] + contexts[i + 1 :], DISTRACTORS)]
        rng.shuffle(passages)
        answers = tuple(dict.fromkeys(a["text"] for a in qa["answers"]))
        out.append(Question(qa["id"], qa["question"], answers, tuple(passages), title))
    return out
