"""What rewriting follow-up questions buys retrieval: hit@5 of the gold paragraph with and without the rewrite.

Each line of benchmarks/questions/followups.jsonl is a short conversation written for this
check on the report half of the SQuAD 2.0 dev subset (its last 8 articles, 352 paragraphs,
stored one paragraph a document without its article's title): an earlier question and its
answer, then a follow-up that leans on them ("What is its symbol?" after a question about
Warsaw), the SQuAD question the follow-up was made from (``standalone``: what a perfect
rewrite would search for) and the paragraph that answers it (``doc``). Each follow-up is
searched three ways through the platform's query pipeline (its default hybrid search):
as asked, as :func:`rag.pipeline.followup.rewrite` makes it, and as the SQuAD question.

    .venv/bin/python -m benchmarks.followup_eval            # writes benchmarks/results/followup-summary.json
    .venv/bin/python -m benchmarks.followup_eval --smoke    # 5 conversations, to /tmp
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rag.eval import qa_datasets
from rag.eval.qa import COLLECTION, build_store
from rag.pipeline.followup import Turn, rewrite
from rag.settings import Settings

QUESTIONS = Path("benchmarks/questions/followups.jsonl")
DATA = Path("../shared/data/squad2-dev-subset")
STORE = Path("benchmarks/results/cache/followup-squad2-report")
OUT = Path("benchmarks/results/followup-summary.json")
K = 5
CHUNKS = 20  # chunks asked per search; a paragraph is ranked at its best chunk
WAYS = ("as_asked", "rewritten", "standalone")


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def ranked_docs(pipeline, text: str) -> list[str]:
    """The stored paragraphs' file names, best first, for a search of ``text``."""
    docs: list[str] = []
    for hit in pipeline.search(COLLECTION, text, CHUNKS).hits:
        if hit.chunk.filename not in docs:
            docs.append(hit.chunk.filename)
    return docs


def evaluate(pipeline, items: list[dict]) -> list[dict]:
    rows = []
    for item in items:
        history = [Turn(t["role"], t["content"]) for t in item["history"]]
        made = rewrite(item["question"], history)
        texts = {"as_asked": item["question"], "rewritten": made.question, "standalone": item["standalone"]}
        row = {
            "id": item["id"],
            "question": item["question"],
            "rewritten_question": made.question,
            "reason": made.reason,
            "doc": item["doc"],
        }
        for way, text in texts.items():
            docs = ranked_docs(pipeline, text)
            rank = docs.index(item["doc"]) + 1 if item["doc"] in docs else None
            row[f"{way}_rank"] = rank
            row[f"{way}_hit@{K}"] = rank is not None and rank <= K
        rows.append(row)
    return rows


def summarize(rows: list[dict]) -> dict:
    n = len(rows)

    def mean(value) -> dict[str, float]:
        return {way: round(sum(value(r[f"{way}_rank"]) for r in rows) / n, 3) for way in WAYS}

    return {
        "questions": n,
        f"hit@{K}": mean(lambda rank: rank is not None and rank <= K),
        "hit@1": mean(lambda rank: rank == 1),
        f"mrr@{CHUNKS}": mean(lambda rank: 1 / rank if rank else 0.0),  # paragraphs within the 20 chunks asked
        "rewritten": sum(r["rewritten_question"] != r["question"] for r in rows),
        "helped": [r["id"] for r in rows if r[f"rewritten_hit@{K}"] and not r[f"as_asked_hit@{K}"]],
        "hurt": [r["id"] for r in rows if r[f"as_asked_hit@{K}"] and not r[f"rewritten_hit@{K}"]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=Path, default=QUESTIONS)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--store", type=Path, default=STORE, help="where the paragraphs' store is built (cached)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--smoke", action="store_true", help="5 conversations, written to /tmp")
    args = parser.parse_args()
    items = read(args.questions)[: 5 if args.smoke else None]
    out = args.out or (Path("/tmp/followup-smoke.json") if args.smoke else OUT)
    qa = qa_datasets.load(args.data, part="report")
    started = time.perf_counter()
    platform = build_store(Settings.from_env(), qa, args.store)
    try:
        rows = evaluate(platform.query_pipeline, items)
    finally:
        platform.close()
    report = {
        "dataset": f"{qa.name} ({len(qa.contexts)} paragraphs, one document each)",
        "questions_file": str(args.questions),
        "search": "the platform's default (hybrid, convex fusion), k=5 paragraphs",
        "summary": summarize(rows),
        "seconds": round(time.perf_counter() - started, 1),
        "rows": rows,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(report["summary"], indent=1))


if __name__ == "__main__":
    main()
