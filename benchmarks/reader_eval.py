"""The span reader alone on gold paragraphs (no retrieval): EM/F1 on answerable questions, and "no answer".

Every question is read against its own paragraph (:func:`rag.reader.evaluate.predict`);
EM and token F1 are SQuAD's, the best over every reference answer of the question
(SQuAD 2.0 dev has up to five), counted on answerable questions with no abstention.
Where the set has unanswerable questions, the null decision "answer when margin >=
t" is scored by balanced accuracy (mean of the answerable share answered and the
unanswerable share abstained on) at the shipped ``READER_THRESHOLD`` and at the best
``t`` on these questions (which flatters; the shipped one was fitted elsewhere).

Sets: the SQuAD 2.0 dev half's report part (its second half of articles; the
calibrate part is where the threshold was fitted) and XQuAD-en (all answerable).

    .venv/bin/python -m benchmarks.reader_eval --data ../shared/data/squad2-dev-subset --part report \\
        --out benchmarks/results/reader-squad2-report.json
    .venv/bin/python -m benchmarks.reader_eval --data ../shared/data/xquad-en --out benchmarks/results/reader-xquad.json
    .venv/bin/python -m benchmarks.reader_eval --data ../shared/data/xquad-en --sample 40 --out /tmp/r.json  # smoke
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

from rag.reader.data import QAExample, read_squad

PARTS = ("calibrate", "report")


@dataclass(frozen=True)
class GoldSet:
    """Questions on their own paragraphs, and every reference answer per question id."""

    name: str
    examples: list[QAExample]
    references: dict[str, tuple[str, ...]]


def load_gold(path: Path, part: str | None = None, sample: int | None = None, seed: int = 0) -> GoldSet:
    """A SQuAD-layout file (or the folder holding one); ``part`` keeps the first or second half of its articles
    (as ``rag eval qa --part`` does); ``sample`` keeps a seeded sample of that many questions."""
    if path.is_dir():
        path = next(iter(sorted(path.glob("*.json"))), path / "missing.json")
    if not path.is_file():
        raise SystemExit(f"{path} is not a SQuAD-format .json file; pass the file or the folder that holds it")
    if part is not None and part not in PARTS:
        raise SystemExit(f"unknown part {part!r}; use one of {', '.join(PARTS)}")
    articles = json.loads(path.read_text(encoding="utf-8"))["data"]
    half = len(articles) // 2
    chosen = articles if part is None else articles[:half] if part == "calibrate" else articles[half:]
    titles = {a["title"] for a in chosen}
    references = {
        qa["id"]: tuple(dict.fromkeys(a["text"] for a in qa["answers"]))
        for a in chosen
        for p in a["paragraphs"]
        for qa in p["qas"]
        if qa.get("answers") and not qa.get("is_impossible")
    }
    examples = [e for e in read_squad(path) if e.title in titles]
    if sample is not None and sample < len(examples):
        examples = random.Random(seed).sample(examples, sample)
    name = path.parent.name + (f"-{part}" if part else "")
    return GoldSet(name, examples, references)


def evaluate(gold: GoldSet, stem: Path | None = None, bf16: bool = False) -> dict:
    """Read every question of ``gold`` with the reader under ``stem`` (default: the shipped weights)."""
    import torch

    from rag.pipeline.reading import READER_THRESHOLD
    from rag.reader import DEFAULT_NAME, WEIGHTS_DIR, load_model
    from rag.reader.evaluate import predict, score_predictions
    from rag.reader.model import load_metadata

    stem = stem or WEIGHTS_DIR / DEFAULT_NAME
    model = load_model(stem)
    t0 = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        preds = predict(model, gold.examples)
    seconds = time.perf_counter() - t0
    scores = score_predictions(gold.examples, preds, READER_THRESHOLD, gold.references)
    meta = load_metadata(stem)
    return {
        "data": gold.name,
        "questions": len(gold.examples),
        "weights": str(stem),
        "weights_sha256": meta.get("weights_sha256"),
        "bf16": bf16,
        "threads": torch.get_num_threads(),
        "seconds": round(seconds, 2),
        "questions_per_s": round(len(gold.examples) / seconds, 2) if seconds else None,
        **scores,
    }


def markdown_table(reports: list[dict]) -> str:
    def f(x: float | None) -> str:
        return "-" if x is None else f"{x:.3f}"

    lines = [
        "| set | answerable / unanswerable | EM | F1 | answered (answerable) at shipped t "
        "| null bal. acc. at shipped t | null bal. acc. at best t | questions/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in reports:
        t = f" (t={r['shipped_threshold']:g})" if "shipped_threshold" in r else ""
        shipped = f"{f(r['shipped_balanced_accuracy'])}{t}" if "shipped_balanced_accuracy" in r else "-"
        best = f"{f(r['null_balanced_accuracy'])} (t={r['null_threshold']:g})" if r["unanswerable"] else "-"
        lines.append(
            f"| {r['data']} | {r['answerable']} / {r['unanswerable']} | {f(r['em'])} | {f(r['f1'])} "
            f"| {f(r.get('shipped_answered'))}{t} | {shipped} | {best} | {r['questions_per_s']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="SQuAD-format .json file or its folder")
    parser.add_argument("--part", choices=PARTS, help="first (calibrate) or second (report) half of the articles")
    parser.add_argument("--sample", type=int, help="a seeded (seed 0) sample of N questions")
    parser.add_argument("--weights", type=Path, help="reader weights stem (default: the shipped minilm-squad)")
    parser.add_argument("--bf16", action="store_true", help="read under bfloat16 autocast (as the service does)")
    parser.add_argument("--out", type=Path, required=True, help="result JSON")
    args = parser.parse_args(argv)
    report = evaluate(load_gold(args.data, args.part, args.sample), args.weights, args.bf16)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(markdown_table([report]))
    print(f"\nresults: {args.out}")
    return report


if __name__ == "__main__":
    main()
