"""Tool calls by the local model: does it pick the right tool, and does the call return the right value?

Questions (``benchmarks/questions/tool-calls.jsonl``) were written for this
benchmark: arithmetic, totals and counts over a made-up ``inventory.csv``
(``benchmarks/questions/inventory.csv``), date arithmetic, and questions that
need no tool. None of them is one of the worked examples in the prompts of
:mod:`rag.pipeline.tool_calls`. Every tool is offered for every question
(``tools: true``). Per question: the tool chosen, the arguments, whether the call
ran, and whether its value equals the expected one (numbers to 1e-6; the
``today`` question counts as right when ``today`` is called).

    python -m benchmarks.tool_calls --out benchmarks/results/tool-calls-summary.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

QUESTIONS = Path(__file__).parent / "questions" / "tool-calls.jsonl"
TABLE = Path(__file__).parent / "questions" / "inventory.csv"


def correct(expected, call) -> bool:
    if call is None or call.result is None:
        return False
    if expected is None:
        return True
    value = call.result.value
    if isinstance(value, dict) and value.get("rows"):  # sql: a single cell
        value = value["rows"][0][0]
    if isinstance(expected, (int, float)) and isinstance(value, (int, float)):
        return abs(value - expected) < 1e-6
    return str(value) == str(expected)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/tool-calls-summary.json"))
    args = parser.parse_args(argv)
    from rag.eval.ingest import ingest_texts
    from rag.platform import Platform
    from rag.settings import Settings

    questions = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        platform = Platform(Settings.from_env().replace(data_dir=Path(tmp)))
        try:
            ingest_texts(platform.ingest_pipeline, "tools", [(TABLE.name, TABLE.read_bytes())])
            pipeline = platform.query_pipeline
            for q in questions:
                query = pipeline.query("tools", q["question"], 5)
                t0 = time.perf_counter()
                calls = pipeline.tool_calls(query, pipeline.tool_calls.select(query, True))
                seconds = time.perf_counter() - t0
                call = calls[0] if calls else None
                chosen = call.name if call else "none"
                rows.append(
                    {
                        **q,
                        "chosen": chosen,
                        "arguments": call.arguments if call else None,
                        "error": call.error if call else None,
                        "right_tool": chosen == q["tool"],
                        "right_value": chosen == "none" if q["tool"] == "none" else correct(q["value"], call),
                        "seconds": seconds,
                    }
                )
                print(json.dumps(rows[-1]))
        finally:
            platform.close()
    kinds = sorted({r["tool"] if r["tool"] in ("calculator", "sql", "none") else "dates" for r in rows})
    summary = {"questions": len(rows), "by_kind": {}}
    for kind in kinds:
        group = [r for r in rows if (r["tool"] if r["tool"] in ("calculator", "sql", "none") else "dates") == kind]
        summary["by_kind"][kind] = {
            "questions": len(group),
            "right_tool": sum(r["right_tool"] for r in group) / len(group),
            "right_value": sum(r["right_value"] for r in group) / len(group),
        }
    summary["right_tool"] = sum(r["right_tool"] for r in rows) / len(rows)
    summary["right_value"] = sum(r["right_value"] for r in rows) / len(rows)
    summary["mean_seconds"] = sum(r["seconds"] for r in rows) / len(rows)
    summary["rows"] = rows
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "rows"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
