"""``rag ask``: answer a question with checked citations, tool calls and abstention, readably or as JSON."""

from __future__ import annotations

import argparse
import json

from rag.cli.documents import _options, _platform, citation_line


def add_answer_options(p: argparse.ArgumentParser) -> None:
    """How the answer is written (the same as the REST fields ``mode``, ``tools``, ``abstain``, ``context``)."""
    g = p.add_argument_group("answer")
    g.add_argument(
        "--mode",
        choices=("auto", "passages", "focus", "extract"),
        help="passages: whole passages; focus: the best sentences; extract: the likeliest span of them; "
        "auto (default): focus for why/explain/how-does questions, extract otherwise",
    )
    g.add_argument(
        "--tools",
        metavar="NAMES",
        help="let the model call tools: 'all', or a comma-separated list of calculator, sql, today, date_add, "
        "days_between",
    )
    g.add_argument("--no-abstain", dest="abstain", action="store_false", default=None, help="always answer")
    g.add_argument(
        "--context",
        choices=("prompt", "retro"),
        help="how the passages enter the model: prompt (default; numbered in the prompt) or retro (through the "
        "decoder's chunked cross-attention, the question alone in the prompt)",
    )


def answer_options(args: argparse.Namespace):
    from rag.pipeline import AnswerOptions

    tools = args.tools
    if isinstance(tools, str):
        tools = True if tools.strip() == "all" else [t.strip() for t in tools.split(",") if t.strip()]
    return AnswerOptions().replace(mode=args.mode, tools=tools, abstain=args.abstain, context=args.context)


def cmd_ask(args: argparse.Namespace) -> int:
    platform = _platform(args)
    try:
        answer = platform.query_pipeline.ask(
            args.collection, args.question, args.k, _options(platform, args), answer_options(args)
        )
    finally:
        platform.close()
    if args.json:
        print(json.dumps(answer.as_dict(), indent=2, default=str))
        return 0
    print(answer.answer)
    for call in answer.tool_calls:
        outcome = call.result.text if call.result else f"failed: {call.error}"
        print(f"\nTool {call.name}({json.dumps(call.arguments, ensure_ascii=False)}): {outcome}")
    if answer.sentences:
        print("\nSentences:")
        for s in answer.sentences:
            mark = "supported" if s.supported else "NOT supported"
            where = f" by [{s.passage}]" if s.supported and s.passage else ""
            fixed = " (marker corrected)" if s.how == "corrected" else ""
            print(f"  {mark}{where}, score {s.score:.2f}, quote {s.quote:.2f}{fixed}: {s.text}")
    if answer.citations:
        print("\nSources:")
        for c in answer.citations:
            print(f"  {citation_line(c)}")
    if answer.abstained and answer.passages:
        print("\nClosest passages:")
        for p in answer.passages[:5]:
            snippet = " ".join(p.chunk.text.split())[:160]
            print(f"  [{p.number}] {p.chunk.filename}: {snippet}")
    return 0
