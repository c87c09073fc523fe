"""``rag eval qa``: answer quality end to end (retrieve, answer, cite, check, abstain) on a QA set.

The set's contexts go into a scratch collection through the platform's ingest
path (each paragraph as ``<title>-<n>.txt``, each COVID-QA article as
``<id>.txt``; cached under ``benchmarks/results/cache/qa-<name>``), then a
fixed, seeded sample of questions is asked through
:meth:`rag.pipeline.QueryPipeline.ask` in each configuration.

Sets (:func:`rag.eval.qa_datasets.load`): SQuAD-format JSON (XQuAD-en, the
SQuAD 2.0 dev half), HotpotQA (distractor) and COVID-QA (60 whole articles,
300 questions, all answerable: "gold in answer" is its figure of note). The
SQuAD 2.0 dev half is split by article: ``--part calibrate`` is its first half
of articles (where the abstention thresholds are fitted, and the same articles
as ``rag/eval/qa_datasets.py``'s tune split), ``--part report`` the second
half, where the figures are reported. Only the contexts of the chosen part are
stored.

Per configuration, over answerable questions: exact match and token F1 (SQuAD
normalisation, markers removed), gold in answer, gold in passages (a retrieved
passage holds a gold answer: the ceiling retrieval sets), citation precision
(share of cited passages that contain a gold answer), support rate (share of
answer sentences marked supported). Every configuration runs with abstention
off and abstention is decided after the fact (so one run serves any
threshold): in the generating modes a question is abstained on when its
relevance is under the threshold or no sentence of its answer is supported; in
mode ``reader`` when the span's margin (span score - "no answer" score) is
under the threshold. Reported as the share of answerable questions answered,
of unanswerable ones abstained on, and their mean (balanced accuracy). On a
set with unanswerable questions each configuration also reports
(``calibrated``) the threshold with the best balanced accuracy on the questions
asked, and for the reader the slope of the logistic that turns a margin into a
confidence: run on ``--part calibrate``, that is where
``rag.pipeline.answer.ABSTAIN_THRESHOLD`` and ``rag.pipeline.reading``'s
``READER_THRESHOLD`` and ``READER_SCALE`` come from.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from rag.eval.ingest import ingest_texts
from rag.eval.qa_datasets import QAItem, QASet, load, sample
from rag.eval.scoring import contains_answer, score
from rag.metrics import best_threshold, normalize_answer
from rag.pipeline.answer import ABSTAIN_THRESHOLD, AnswerOptions
from rag.pipeline.reading import READER_THRESHOLD
from rag.reader.evaluate import fit_scale
from rag.settings import Settings

COLLECTION = "qa"
CACHE_ROOT = Path("benchmarks/results/cache")
CONFIGS = {
    # the default mode: the trained span reader, no generation (abstention from its margin, after the fact)
    "reader": AnswerOptions(mode="reader", abstain=False),
    "passages": AnswerOptions(mode="passages", abstain=False),
    "focus": AnswerOptions(mode="focus", abstain=False),
    "extract": AnswerOptions(mode="extract", abstain=False),
    "auto": AnswerOptions(mode="auto", abstain=False),  # the generating default (abstention after the fact)
    # context "retro": the passages through the decoder's chunked cross-attention, the question alone in the prompt
    "retro": AnswerOptions(context="retro", abstain=False),
}


def shipped_threshold(config: str) -> float:
    """The threshold the platform abstains at in this configuration."""
    options = CONFIGS[config]
    return READER_THRESHOLD if options.mode == "reader" and options.context == "prompt" else ABSTAIN_THRESHOLD


def build_store(settings: Settings, qa: QASet, store_dir: Path):
    from rag.platform import Platform

    platform = Platform(settings.replace(data_dir=store_dir))
    done = store_dir / "qa-done.json"
    if not done.exists():
        files = [(name, text.encode("utf-8")) for name, text in qa.contexts.items()]
        for start in range(0, len(files), 64):
            ingest_texts(platform.ingest_pipeline, COLLECTION, files[start : start + 64])
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
        "margin": None if answer.span is None else answer.span.margin,  # mode reader: span score - null score
        "sentences": len(answer.sentences),
        "supported": sum(s.supported for s in answer.sentences),
        "citations": len(cited),
        "correct_citations": sum(good),
        "gold_in_passages": bool(item.answers)
        and any(contains_answer(p.chunk.text, item.answers) for p in answer.passages),
        "seconds": seconds,
        **(score(answer.answer, item.answers) if item.answers else {}),
    }


def abstains(row: dict, threshold: float) -> bool:
    """Whether the platform would have abstained on this answer at ``threshold`` (see the module docstring)."""
    if row["mode"] == "reader":
        return row["margin"] is None or row["margin"] < threshold
    return (row["relevance"] is not None and row["relevance"] < threshold) or row["supported"] == 0


def summarize(rows: list[dict], threshold: float) -> dict:
    answerable = [r for r in rows if r["answers"]]
    unanswerable = [r for r in rows if not r["answers"]]
    cited = sum(r["citations"] for r in answerable)
    sentences = sum(r["sentences"] for r in rows)

    def mean(key: str) -> float | None:
        return float(np.mean([r[key] for r in answerable])) if answerable else None

    answered = float(np.mean([not abstains(r, threshold) for r in answerable])) if answerable else None
    abstained = float(np.mean([abstains(r, threshold) for r in unanswerable])) if unanswerable else None
    out = {
        "questions": len(rows),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "em": mean("em"),
        "f1": mean("f1"),
        "contains": mean("contains"),
        "gold_in_passages": mean("gold_in_passages"),
        "citation_precision": sum(r["correct_citations"] for r in answerable) / cited if cited else None,
        "support_rate": sum(r["supported"] for r in rows) / sentences if sentences else None,
        "mean_seconds": float(np.mean([r["seconds"] for r in rows])),
        "abstention": {
            "threshold": threshold,
            "answered_answerable": answered,
            "abstained_unanswerable": abstained,
            "balanced_accuracy": None if answered is None or abstained is None else (answered + abstained) / 2,
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


def calibrate_reader(rows: list[dict]) -> dict:
    """Mode reader: the margin threshold with the best balanced accuracy, and the logistic slope at it.

    The slope fits ``P(answerable) = sigmoid(scale * (margin - threshold))`` on the
    questions asked (:func:`rag.reader.evaluate.fit_scale`); a question with no span
    at all counts as margin -inf (always abstained on, left out of the fit).
    """
    margins = np.array([-np.inf if r["margin"] is None else r["margin"] for r in rows])
    labels = np.array([bool(r["answers"]) for r in rows])
    if len(np.unique(margins[np.isfinite(margins)])) < 2:  # nothing to choose between
        return {"threshold": READER_THRESHOLD, "balanced_accuracy": None, "scale": None}
    threshold, accuracy = best_threshold(margins[labels], margins[~labels])
    threshold = round(threshold, 3)
    scale = fit_scale(margins, labels, threshold)
    return {"threshold": threshold, "balanced_accuracy": accuracy, "scale": round(scale, 3)}


def calibration(rows: list[dict]) -> dict:
    """``calibrated`` of a configuration's summary (reader rows by margin, the others by relevance)."""
    if all(r["mode"] == "reader" for r in rows):
        return calibrate_reader(rows)
    threshold, accuracy = calibrate(rows)
    return {"threshold": threshold, "balanced_accuracy": accuracy}


def run(
    settings: Settings,
    data: Path,
    configs: list[str],
    n: int,
    out: Path,
    part: str | None,
    k: int = 5,
    cache_root: Path = CACHE_ROOT,
    questions: Path | None = None,
) -> dict:
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        raise SystemExit(f"unknown configuration {unknown[0]!r}; use {', '.join(CONFIGS)}")
    qa = load(data, part, questions)
    store_dir = cache_root / f"qa-{qa.name}"
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
                summary = {"name": name, **summarize(rows, shipped_threshold(name))}
                if any(not r["answers"] for r in rows) and any(r["answers"] for r in rows):
                    summary["calibrated"] = calibration(rows)
                report["configs"].append(summary)
    finally:
        platform.close()
    out.write_text(json.dumps(report, indent=2) + "\n")
    return report


def markdown_table(report: dict) -> str:
    def f(x):
        return "-" if x is None else f"{x:.3f}"

    lines = [
        "| config | EM | F1 | gold in answer | gold in passages | citation precision | support rate "
        "| answered (answerable) | abstained (unanswerable) | balanced | s/question |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in report["configs"]:
        a = c["abstention"]
        lines.append(
            f"| {c['name']} | {f(c['em'])} | {f(c['f1'])} | {f(c['contains'])} | {f(c.get('gold_in_passages'))} "
            f"| {f(c['citation_precision'])} | {f(c['support_rate'])} | {f(a['answered_answerable'])} "
            f"| {f(a['abstained_unanswerable'])} | {f(a.get('balanced_accuracy'))} | {c['mean_seconds']:.2f} |"
        )
    return "\n".join(lines)
