"""``rag ask``: answer a question with checked citations, tool calls and abstention, readably or as JSON."""

from __future__ import annotations

import argparse
import json

from rag.cli.documents import _options, _platform, citation_line, ordered, running_server_for

# The keys of Answer.as_dict, in its order: a server's answer is printed with them first, as a local one.
ANSWER_KEYS = (
    "answer", "abstained", "abstain_reason", "mode", "context", "relevance", "citations", "sentences",
    "tool_calls", "passages", "timings", "usage",
)  # fmt: skip


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


def _tools(args: argparse.Namespace):
    """``--tools``: True for 'all', else the list of names (None when not given)."""
    tools = args.tools
    if isinstance(tools, str):
        tools = True if tools.strip() == "all" else [t.strip() for t in tools.split(",") if t.strip()]
    return tools


def answer_options(args: argparse.Namespace):
    from rag.pipeline import AnswerOptions

    return AnswerOptions().replace(mode=args.mode, tools=_tools(args), abstain=args.abstain, context=args.context)


def cmd_ask(args: argparse.Namespace) -> int:
    server = running_server_for(args)
    if server is not None:
        from rag.cli.remote import RemoteClient

        with RemoteClient(server) as client:
            body = client.ask(
                args.collection,
                args.question,
                args.k,
                args.fusion,
                args.hyde,
                args.rerank,
                args.candidates,
                mode=args.mode,
                tools=_tools(args),
                abstain=args.abstain,
                context=args.context,
            )
        answer = ordered(body, ANSWER_KEYS)
    else:
        platform = _platform(args)
        try:
            result = platform.query_pipeline.ask(
                args.collection, args.question, args.k, _options(platform, args), answer_options(args)
            )
        finally:
            platform.close()
        answer = result.as_dict()
    if args.json:
        print(json.dumps(answer, indent=2, default=str))
    else:
        print_answer(answer)
    return 0


def print_answer(answer: dict) -> None:
    """The answer, its tool calls, each sentence's support, the sources, and the closest passages when it abstains.

    ``answer`` is the JSON form of an answer (``Answer.as_dict`` or the server's ``/query`` response).
    """
    print(answer["answer"])
    for call in answer.get("tool_calls") or []:
        outcome = call["result"] if call.get("result") is not None else f"failed: {call.get('error')}"
        print(f"\nTool {call['name']}({json.dumps(call['arguments'], ensure_ascii=False)}): {outcome}")
    if answer.get("sentences"):
        print("\nSentences:")
        for s in answer["sentences"]:
            mark = "supported" if s["supported"] else "NOT supported"
            where = f" by [{s['passage']}]" if s["supported"] and s["passage"] else ""
            fixed = " (marker corrected)" if s["how"] == "corrected" else ""
            print(f"  {mark}{where}, score {s['score']:.2f}, quote {s['quote']:.2f}{fixed}: {s['text']}")
    if answer.get("citations"):
        print("\nSources:")
        for c in answer["citations"]:
            print(f"  {citation_line(c)}")
    if answer.get("abstained") and answer.get("passages"):
        print("\nClosest passages:")
        for p in answer["passages"][:5]:
            snippet = " ".join(p["text"].split())[:160]
            print(f"  [{p['number']}] {p['filename']}: {snippet}")
