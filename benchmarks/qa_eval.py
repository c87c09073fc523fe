"""``rag eval qa``: answer quality end to end (retrieve, answer, cite, check, abstain) on a QA set.

The set's contexts go into a scratch collection through the platform's ingest
path (each paragraph as ``<title>-<n>.txt``; cached under
``benchmarks/results/cache/qa-<name>``), then a fixed, seeded sample of questions
is asked through :meth:`rag.pipeline.QueryPipeline.ask` in each configuration.

Sets: SQuAD-format JSON (XQuAD-en, the SQuAD 2.0 dev half) and HotpotQA
(distractor). The SQuAD 2.0 dev half is split by article: ``--part calibrate``
is its first half of articles (where the abstention threshold is fitted, and
the same articles as ``benchmarks/qa_datasets.py``'s tune split), ``--part
report`` the second half, where the figures are reported. Only the contexts of
the chosen part are stored.

Per configuration, over answerable questions: exact match and token F1 (SQuAD
normalisation, markers removed), citation precision (share of cited passages
that contain a gold answer), support rate (share of answer sentences marked
supported). Abstention is decided after the fact from each answer's relevance
and support (so one run serves any threshold): a question is abstained on when
its relevance is under the threshold or no sentence of its answer is
supported; reported as the share of unanswerable questions abstained on and
of answerable ones answered. On a set with unanswerable questions each
configuration also reports (``calibrated``) the threshold with the best balanced
abstention accuracy on the questions asked: run on ``--part calibrate``, that is
where ``rag.pipeline.answer.ABSTAIN_THRESHOLD`` comes from.
"""

from __future__ import annotations

import ast
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.metrics import best_threshold, normalize_answer, score
from rag.pipeline.answer import ABSTAIN_THRESHOLD, AnswerOptions
from rag.settings import Settings

COLLECTION = "qa"
CACHE_ROOT = Path("benchmarks/results/cache")
CONFIGS = {
    "passages": AnswerOptions(mode="passages", abstain=False),
    "focus": AnswerOptions(mode="focus", abstain=False),
    "extract": AnswerOptions(mode="extract", abstain=False),
    "auto": AnswerOptions(mode="auto", abstain=False),  # the default mode (abstention applied after the fact)
    # context "retro": the passages through the decoder's chunked cross-attention, the question alone in the prompt
    "retro": AnswerOptions(context="retro", abstain=False),
}


@dataclass(frozen=True)
class QAItem:
    id: str
    question: str
    answers: tuple[str, ...]  # empty: unanswerable


@dataclass(frozen=True)
class QASet:
    name: str
    contexts: dict[str, str]  # file name -> paragraph
    items: list[QAItem]


def load(path: Path, part: str | None = None) -> QASet:
    """A SQuAD-format or HotpotQA JSON file (or a folder holding one)."""
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


def build_store(settings: Settings, qa: QASet, store_dir: Path):
    from rag.platform import Platform

    platform = Platform(settings.replace(data_dir=store_dir))
    done = store_dir / "qa-done.json"
    if not done.exists():
        files = [(name, text.encode("utf-8"), "text/plain") for name, text in qa.contexts.items()]
        for start in range(0, len(files), 64):
            platform.ingest_pipeline.ingest_batch(COLLECTION, files[start : start + 64])
        done.write_text(json.dumps({"documents": len(files)}))
    return platform


def ask(platform, item: QAItem, options: AnswerOptions, k: int) -> dict:
    t0 = time.perf_counter()
    answer = platform.query_pipeline.ask(COLLECTION, item.question, k, answer=options)
    seconds = time.perf_counter() - t0
    gold = [normalize_answer(a) for a in item.answers]
    cited = [c.text for c in answer.citations]
    good = [any(g and g in normalize_answer(t) for g in gold) for t in cited]
    return {
        "id": item.id,
        "question": item.question,
        "answers": list(item.answers),
        "answer": answer.answer,
        "mode": answer.mode,
        "context": answer.context,
        "relevance": answer.relevance,
        "sentences": len(answer.sentences),
        "supported": sum(s.supported for s in answer.sentences),
        "citations": len(cited),
        "correct_citations": sum(good),
        "seconds": seconds,
        **(score(answer.answer, item.answers) if item.answers else {}),
    }


def abstains(row: dict, threshold: float) -> bool:
    return (row["relevance"] is not None and row["relevance"] < threshold) or row["supported"] == 0


def summarize(rows: list[dict], threshold: float) -> dict:
    answerable = [r for r in rows if r["answers"]]
    unanswerable = [r for r in rows if not r["answers"]]
    cited = sum(r["citations"] for r in answerable)
    sentences = sum(r["sentences"] for r in rows)
    out = {
        "questions": len(rows),
        "em": float(np.mean([r["em"] for r in answerable])) if answerable else None,
        "f1": float(np.mean([r["f1"] for r in answerable])) if answerable else None,
        "contains": float(np.mean([r["contains"] for r in answerable])) if answerable else None,
        "citation_precision": sum(r["correct_citations"] for r in answerable) / cited if cited else None,
        "support_rate": sum(r["supported"] for r in rows) / sentences if sentences else None,
        "mean_seconds": float(np.mean([r["seconds"] for r in rows])),
        "abstention": {
            "threshold": threshold,
            "answered_answerable": float(np.mean([not abstains(r, threshold) for r in answerable]))
            if answerable
            else None,
            "abstained_unanswerable": float(np.mean([abstains(r, threshold) for r in unanswerable]))
            if unanswerable
            else None,
        },
    }
    if answerable:  # EM/F1 when abstentions count as empty answers (what a user gets)
        kept = [r for r in answerable if not abstains(r, threshold)]
        out["em_with_abstention"] = sum(r["em"] for r in kept) / len(answerable)
        out["f1_with_abstention"] = sum(r["f1"] for r in kept) / len(answerable)
    return out


def calibrate(rows: list[dict]) -> tuple[float, float]:
    """The relevance threshold with the best balanced abstention accuracy, and that accuracy."""
    relevance = np.array([r["relevance"] for r in rows if r["relevance"] is not None])
    if len(np.unique(relevance)) < 2:  # nothing to choose between
        a = summarize(rows, ABSTAIN_THRESHOLD)["abstention"]
        return ABSTAIN_THRESHOLD, (a["answered_answerable"] + a["abstained_unanswerable"]) / 2

    def score(r: dict) -> float:  # answered exactly when score >= threshold (see abstains)
        if r["supported"] == 0:
            return -np.inf
        return np.inf if r["relevance"] is None else r["relevance"]

    pos = np.array([score(r) for r in rows if r["answers"]])
    neg = np.array([score(r) for r in rows if not r["answers"]])
    best, accuracy = best_threshold(pos, neg, values=relevance)
    return round(best, 3), accuracy


def run(settings: Settings, data: Path, configs: list[str], n: int, out: Path, part: str | None, k: int = 5) -> dict:
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        raise SystemExit(f"unknown configuration {unknown[0]!r}; use {', '.join(CONFIGS)}")
    qa = load(data, part)
    store_dir = CACHE_ROOT / f"qa-{qa.name}"
    store_dir.mkdir(parents=True, exist_ok=True)
    platform = build_store(settings, qa, store_dir)
    questions = sample(qa.items, n)
    report = {"data": qa.name, "questions": len(questions), "k": k, "seed": 0, "configs": []}
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(out.with_suffix(".jsonl"), "w") as log:
            for name in configs:
                rows = []
                for item in questions:
                    row = ask(platform, item, CONFIGS[name], k)
                    rows.append(row)
                    log.write(json.dumps({"config": name, **row}) + "\n")
                    log.flush()  # a long run can be followed as it goes
                summary = {"name": name, **summarize(rows, ABSTAIN_THRESHOLD)}
                if any(not r["answers"] for r in rows):
                    threshold, accuracy = calibrate(rows)
                    summary["calibrated"] = {"threshold": threshold, "balanced_accuracy": accuracy}
                report["configs"].append(summary)
    finally:
        platform.close()
    out.write_text(json.dumps(report, indent=2) + "\n")
    return report


def markdown_table(report: dict) -> str:
    def f(x):
        return "-" if x is None else f"{x:.3f}"

    lines = [
        "| config | EM | F1 | gold in answer | citation precision | support rate | answered (answerable) "
        "| abstained (unanswerable) | s/question |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in report["configs"]:
        a = c["abstention"]
        lines.append(
            f"| {c['name']} | {f(c['em'])} | {f(c['f1'])} | {f(c['contains'])} | {f(c['citation_precision'])} "
            f"| {f(c['support_rate'])} | {f(a['answered_answerable'])} | {f(a['abstained_unanswerable'])} "
            f"| {c['mean_seconds']:.2f} |"
        )
    return "\n".join(lines)
