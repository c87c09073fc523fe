"""Question-answering sets for answer-quality benchmarks, split so that tuning never sees a test question.

Each question comes with its gold paragraph and ``DISTRACTORS`` other paragraphs
of the same article (as a retriever returns them), in a seeded random order.

* ``tune``: SQuAD 2.0 dev half (``squad2-dev-subset``), answerable questions of
  its first 8 articles (Normans ... Harvard_University);
* ``squad-test``: answerable questions of its last 8 articles (Yuan_dynasty ... Force);
* ``xquad-test``: XQuAD-en, from the 32 articles that are not in the SQuAD dev
  half at all (XQuAD holds all 16 of those, so they are left out).

Questions are drawn with a fixed seed, at most one per paragraph.

:func:`load` reads the sets that ``rag eval qa`` stores whole and asks with
retrieval (:class:`QASet`): SQuAD-format files (XQuAD-en, the SQuAD 2.0 dev
half, split by article into a calibrate and a report part), HotpotQA
(distractor) and COVID-QA (``../shared/data/covidqa-60``: whole articles,
questions in ``questions.jsonl``).
"""

from __future__ import annotations

import ast
import json
import random
from dataclasses import dataclass
from pathlib import Path

from rag.bench.datasets import SHARED_DATA

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


# -- sets stored whole for ``rag eval qa`` (retrieval included) -----------------------


@dataclass(frozen=True)
class QAItem:
    id: str
    question: str
    answers: tuple[str, ...]  # empty: unanswerable


@dataclass(frozen=True)
class QASet:
    name: str
    contexts: dict[str, str]  # file name -> text stored as one document
    items: list[QAItem]


def load(path: Path, part: str | None = None, questions: Path | None = None) -> QASet:
    """A SQuAD-format or HotpotQA JSON file (or a folder holding one), or a folder of ``documents/`` with
    questions (``questions.jsonl`` in it, as COVID-QA, or the file ``questions``, as the Vite docs).

    ``part`` ("calibrate" or "report") keeps the first or second half of a SQuAD file's articles.
    """
    if path.is_dir() and (questions is not None or (path / "questions.jsonl").is_file()):
        if part is not None:
            raise SystemExit(f"--part splits a SQuAD file by article; {path} holds documents: leave --part out")
        return load_covidqa(path, questions)
    if path.is_dir():
        path = next(p for p in sorted(path.glob("*.json")))
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, list):  # HotpotQA (HF schema; this export stores ``context`` as a Python literal)
        contexts, items = {}, []
        for n, q in enumerate(data):
            context = q["context"] if isinstance(q["context"], dict) else ast.literal_eval(q["context"])
            for title, sentences in zip(context["title"], context["sentences"]):
                contexts[_file(title, 0)] = f"{title}\n\n{''.join(sentences)}"
            items.append(QAItem(str(q.get("id", n)), q["question"], (q["answer"],)))
        return QASet(path.parent.name, contexts, items)
    articles = data["data"]
    name = path.parent.name
    if part is not None:
        half = len(articles) // 2
        articles = articles[:half] if part == "calibrate" else articles[half:]
        name = f"{name}-{part}"
    contexts, items = {}, []
    for article in articles:
        for n, paragraph in enumerate(article["paragraphs"]):
            contexts[_file(article["title"], n)] = paragraph["context"]
            for qa in paragraph["qas"]:
                answers = () if qa.get("is_impossible") else tuple(dict.fromkeys(a["text"] for a in qa["answers"]))
                items.append(QAItem(qa["id"], qa["question"], answers))
    return QASet(name, contexts, items)


def load_covidqa(folder: Path, questions: Path | None = None) -> QASet:
    """A folder's documents whole (``documents/*.txt`` or ``*.md``, stored as they are) and questions about them.

    COVID-QA: every article is stored, the 29 without questions too (they are retrieval
    distractors; see the folder's SOURCE.md); each question has one gold span. ``questions``
    (default ``questions.jsonl`` in the folder) holds one ``{"id", "doc", "question", "answers"}``
    per line; ``answers: []`` marks a question the documents do not answer (``doc`` null).
    """
    docs = sorted(p for p in (folder / "documents").iterdir() if p.suffix in (".txt", ".md"))
    contexts = {p.name: p.read_text(encoding="utf-8") for p in docs}
    items = []
    for line in (questions or folder / "questions.jsonl").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        q = json.loads(line)
        if q["answers"] and q["doc"] not in contexts:
            raise SystemExit(f"question {q['id']} names {q['doc']}, which is not in {folder / 'documents'}")
        items.append(QAItem(str(q["id"]), q["question"], tuple(q["answers"])))
    return QASet(folder.name, contexts, items)


def _file(title: str, n: int) -> str:
    safe = "".join(c if c.isalnum() else "_" for c in title)[:80]
    return f"{safe}-{n}.txt"


def sample(items: list[QAItem], n: int, seed: int = 0) -> list[QAItem]:
    """``n`` questions, seeded; half unanswerable when the set has unanswerable ones."""
    rng = random.Random(seed)
    answerable = [q for q in items if q.answers]
    unanswerable = [q for q in items if not q.answers]
    if not unanswerable:
        return rng.sample(answerable, min(n, len(answerable)))
    half = n // 2
    return rng.sample(answerable, min(n - half, len(answerable))) + rng.sample(
        unanswerable, min(half, len(unanswerable))
    )
