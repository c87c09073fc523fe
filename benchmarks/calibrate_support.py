"""Calibrate the support threshold of checked citations on SciFact *train* claims.

A claim stands for an answer sentence and an abstract for a passage:

* positive pairs: a claim and an abstract that the SciFact annotators found to
  SUPPORT it with rationale sentences;
* negative pairs: a claim and an abstract it cites in which the annotators found
  no evidence (NOINFO). These are on topic (the claim's authors cited them), so
  they are hard negatives, closer to a wrong citation than a random passage is.

CONTRADICT pairs are left out: a similarity model cannot tell a claim from its
negation, and the support check does not claim to. Each pair is scored by the
support model (MaxSim, :mod:`rag.pipeline.support`) and the threshold with the
best balanced accuracy is reported with the ROC AUC. Only ``claims_train.csv``
is read; the SciFact test claims are never used.

    python -m benchmarks.calibrate_support --out benchmarks/results/support-calibration.json
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from pathlib import Path

import numpy as np

from rag.bench.datasets import SHARED_DATA
from rag.metrics import best_threshold

SCIFACT = SHARED_DATA / "scifact" / "scifact_original"


def pairs(limit: int | None = None) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(claim, abstract) positive and negative pairs of the train claims."""
    abstracts = {}
    with open(SCIFACT / "corpus_sentences.jsonl", encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            abstracts[str(doc["doc_id"])] = " ".join(doc["sentences"])
    positive, negative = [], []
    with open(SCIFACT / "claims_train.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            cited = re.findall(r"\d+", row["cited_doc_ids"])  # numpy-printed lists: "[ 5152028 11705328]"
            if row["evidence_label"] == "SUPPORT":
                positive.append((row["claim"], abstracts[str(row["evidence_doc_id"])]))
            elif not row["evidence_doc_id"]:
                negative += [(row["claim"], abstracts[d]) for d in cited if d in abstracts]
    positive = list(dict.fromkeys(positive))
    negative = list(dict.fromkeys(negative))
    return positive[:limit], negative[:limit]


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    return float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/support-calibration.json"))
    parser.add_argument("--limit", type=int, help="at most N pairs of each kind (smoke runs)")
    args = parser.parse_args(argv)
    from rag.pipeline.support import SUPPORT_MODEL
    from rag.rerank.base import get_reranker

    model = get_reranker(SUPPORT_MODEL)
    positive, negative = pairs(args.limit)
    pos = np.array([model.score(c, [a])[0] for c, a in positive], dtype=np.float64)
    neg = np.array([model.score(c, [a])[0] for c, a in negative], dtype=np.float64)
    threshold, accuracy = best_threshold(pos, neg)
    report = {
        "data": "SciFact claims_train.csv: SUPPORT abstracts vs cited NOINFO abstracts",
        "model": SUPPORT_MODEL,
        "positive_pairs": len(pos),
        "negative_pairs": len(neg),
        "threshold": round(threshold, 3),
        "balanced_accuracy": round(accuracy, 3),
        "true_positive_rate": round(float((pos >= threshold).mean()), 3),
        "true_negative_rate": round(float((neg < threshold).mean()), 3),
        "auc": round(auc(pos, neg), 3),
        "positive_mean": round(float(pos.mean()), 3),
        "negative_mean": round(float(neg.mean()), 3),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
