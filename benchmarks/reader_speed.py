"""How fast the span reader answers: ``Reader.read`` alone, and ``/query`` in mode reader against mode auto.

Part 1, the reader alone: one question over 5 passages of 256 tokens each (XQuAD-en
paragraphs run together and cut at a token boundary; with the question, a passage
that long takes two of the reader's 256-token windows: ``windows`` says how many),
timed with one and two intra-op threads, bf16 autocast off and on. Each
configuration is timed as :mod:`rag.bench.timing` times a point (reads repeated
past a floor, the median of the runs kept), the configurations taking turns run by
run so a change in the machine's load hits all alike; ratios compare
configurations of the same run. The budget: under 150 ms per read with what the
service runs (one thread; bf16 where the CPU supports it).

Part 2, end to end: ``POST /v1/collections/qa/query`` to the server running as a child
process on qa_eval's cached XQuAD-en store (built on first use), the
same answerable questions in mode reader and mode auto (abstention off, so auto
always generates), alternating which mode goes first; p50 and p99 of the wall time.

    .venv/bin/python -m benchmarks.reader_speed                         # ~5 min on 2 idle cores
    .venv/bin/python -m benchmarks.reader_speed --smoke --out /tmp/reader-speed.json   # seconds
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from rag.bench.ann import machine
from rag.bench.datasets import SHARED_DATA
from rag.bench.metrics import percentiles
from rag.bench.timing import Timing

if TYPE_CHECKING:
    from rag.reader import Reader

XQUAD = SHARED_DATA / "xquad-en"
OUT = Path(__file__).resolve().parent / "results" / "reader-speed-summary.json"
BUDGET_MS = 150.0
CONFIGS = [(1, False), (1, True), (2, False), (2, True)]  # (threads, bf16)


def passages_of(tokenizer, texts: list[str], n: int, tokens: int) -> list[str]:
    """``n`` passages of exactly ``tokens`` word pieces, cut from ``texts`` run together."""
    needed, taken = n * tokens * 8, []  # characters: far more than n * tokens word pieces take
    for t in texts:
        taken.append(t)
        if sum(map(len, taken)) > needed:
            break
    text = " ".join(taken)
    offsets = tokenizer.encode(text, add_special_tokens=False).offsets
    if len(offsets) < n * tokens:
        raise SystemExit(f"the texts hold {len(offsets)} tokens; {n} passages of {tokens} need more")
    return [text[offsets[k * tokens][0] : offsets[(k + 1) * tokens - 1][1]] for k in range(n)]


def time_reads(reader: Reader, question: str, passages: list[str], timing: Timing) -> dict:
    """ms per ``Reader.read`` in each of :data:`CONFIGS`, their ratios, and whether the service's is in budget.

    ``reader``'s ``threads`` and ``bf16`` are set in turn (the model is loaded once).
    """
    import time

    from rag.reader.reader import bf16_supported
    from rag.reader.windows import MAX_LENGTH, STRIDE, make_windows, question_head

    tokenizer = reader.model.tokenizer
    head = question_head(tokenizer, question)
    windows = len(make_windows(tokenizer, [head] * len(passages), passages, MAX_LENGTH, STRIDE))
    reader.read(question, passages)  # warm up
    one_run = Timing(timing.min_seconds, 1, timing.statistic)
    rates: dict[tuple[int, bool], list[float]] = {c: [] for c in CONFIGS}
    for r in range(timing.repeats):
        for threads, bf16 in CONFIGS[:: 1 if r % 2 == 0 else -1]:
            reader.threads, reader.bf16 = threads, bf16

            def one_pass() -> float:
                t0 = time.perf_counter()
                reader.read(question, passages)
                return time.perf_counter() - t0

            rates[(threads, bf16)] += one_run.rates(1, one_pass)
    ms = {c: 1000.0 / timing.pick(v) for c, v in rates.items()}
    service = (1, bf16_supported())
    return {
        "passages": len(passages),
        "windows": windows,
        "bf16_supported": bf16_supported(),
        "ms_per_read": {f"threads={t},bf16={b}": round(v, 1) for (t, b), v in ms.items()},
        "ratios": {
            "bf16_speedup_1_thread": round(ms[(1, False)] / ms[(1, True)], 3),
            "bf16_speedup_2_threads": round(ms[(2, False)] / ms[(2, True)], 3),
            "two_threads_speedup_fp32": round(ms[(1, False)] / ms[(2, False)], 3),
            "two_threads_speedup_bf16": round(ms[(1, True)] / ms[(2, True)], 3),
        },
        "service_config": f"threads={service[0]},bf16={service[1]}",
        "service_ms": round(ms[service], 1),
        "budget_ms": BUDGET_MS,
        "within_budget": ms[service] < BUDGET_MS,
    }


def time_queries(questions: list[str], k: int, log_path: Path) -> dict:
    """p50/p99 ms of ``/query`` in mode reader and mode auto over the same questions (qa_eval's XQuAD store).

    The server runs as a child process over the store (``rag.bench.server_process``); its log goes to ``log_path``.
    """
    import time

    import httpx

    from rag.bench.server_process import ServerProcess
    from rag.eval.qa import CACHE_ROOT, COLLECTION, build_store, load
    from rag.settings import Settings

    qa = load(XQUAD)
    store_dir = CACHE_ROOT / f"qa-{qa.name}"
    store_dir.mkdir(parents=True, exist_ok=True)
    build_store(Settings.from_env(), qa, store_dir).close()  # stored once; the server opens the catalog itself
    seconds: dict[str, list[float]] = {"reader": [], "auto": []}
    with ServerProcess(store_dir, log_path) as server, httpx.Client(base_url=server.url, timeout=600) as client:

        def ask(question: str, mode: str) -> float:
            body = {"question": question, "k": k, "mode": mode, "abstain": False}
            t0 = time.perf_counter()
            r = client.post(f"/v1/collections/{COLLECTION}/query", json=body)
            took = time.perf_counter() - t0
            if r.status_code != 200:
                raise SystemExit(f"/query answered {r.status_code}: {r.text[:300]}; see {log_path}")
            return took

        for mode in seconds:  # load the models (embedder, reader, generator) before timing
            ask(questions[0], mode)
        for n, question in enumerate(questions):
            for mode in list(seconds)[:: 1 if n % 2 == 0 else -1]:
                seconds[mode].append(ask(question, mode))
    p = {mode: percentiles(s) for mode, s in seconds.items()}
    return {
        "set": f"{qa.name} ({len(qa.contexts)} paragraphs stored)",
        "questions": len(questions),
        "k": k,
        **{f"{mode}_{key}": round(v, 1) for mode, ps in p.items() for key, v in ps.items()},
        "auto_over_reader_p50": round(p["auto"]["p50_ms"] / p["reader"]["p50_ms"], 2),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: a check that it runs, not a measurement")
    parser.add_argument("--passages", type=int, default=5)
    parser.add_argument(
        "--passage-tokens",
        default="256,200",
        help="comma-separated passage lengths in tokens (default 256,200: the budget's size, and the platform's "
        "chunk size, which takes one window)",
    )
    parser.add_argument("--queries", type=int, help="questions per mode for /query (default 30; smoke 2; 0: skip)")
    parser.add_argument("-k", type=int, default=5, help="passages per question for /query")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    timing = Timing(0.2, 2) if args.smoke else Timing(1.0, 5)
    n_queries = args.queries if args.queries is not None else 2 if args.smoke else 30

    from rag.eval.qa_datasets import load as load_set
    from rag.eval.qa_datasets import sample
    from rag.reader import Reader

    qa = load_set(XQUAD)
    contexts = list(qa.contexts.values())
    reader = Reader()
    sizes = [int(t) for t in args.passage_tokens.split(",") if t.strip()]
    questions = [q.question for q in sample(qa.items, max(n_queries, 1))]
    report = {
        "machine": machine(),
        "smoke": args.smoke,
        "timing": timing.as_dict(),
        "read": {
            str(tokens): time_reads(
                reader, questions[0], passages_of(reader.model.tokenizer, contexts, args.passages, tokens), timing
            )
            for tokens in sizes
        },
    }
    if n_queries:
        report["query"] = time_queries(questions, args.k, args.out.with_suffix(".server.log"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(markdown(report))
    print(f"\nresults: {args.out}")
    return report


def markdown(report: dict) -> str:
    lines = [f"CPU: {report['machine']['cpu']}, {report['machine']['cores']} cores; Reader.read of one question"]
    for tokens, read in report["read"].items():
        lines += [
            "",
            f"{read['passages']} passages of {tokens} tokens ({read['windows']} windows); "
            f"median of {report['timing']['repeats']} runs",
            "",
            "| threads | bf16 | ms per read |",
            "|---|---|---|",
        ]
        for name, ms in read["ms_per_read"].items():
            threads, bf16 = (part.split("=")[1] for part in name.split(","))
            lines.append(f"| {threads} | {bf16} | {ms} |")
        lines += [
            "",
            f"service ({read['service_config']}): {read['service_ms']} ms, budget {read['budget_ms']:g} ms: "
            f"{'within' if read['within_budget'] else 'OVER'}; ratios {read['ratios']}",
        ]
    if "query" in report:
        q = report["query"]
        lines += [
            "",
            f"/query on {q['set']}, {q['questions']} questions, k={q['k']}:",
            "",
            "| mode | p50 ms | p99 ms |",
            "|---|---|---|",
            f"| reader | {q['reader_p50_ms']} | {q['reader_p99_ms']} |",
            f"| auto | {q['auto_p50_ms']} | {q['auto_p99_ms']} |",
            "",
            f"auto / reader at p50: {q['auto_over_reader_p50']}x",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
