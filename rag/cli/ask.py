"""``rag ask``: answer a question with checked citations, tool calls and abstention, readably or as JSON."""

from __future__ import annotations

import argparse
import dataclasses
import json

from rag.cli.documents import _options, _platform, running_server_for
from rag.cli.show import citation_line, ordered
from rag.pipeline import Answer

# The keys of answer_json, in its order: a server's answer is printed with them first, as a local one.
ANSWER_KEYS = (
    "answer", "abstained", "abstain_reason", "mode", "context", "relevance", "span", "citations", "sentences",
    "tool_calls", "passages", "timings", "usage",
)  # fmt: skip
QUOTE_CHARS = 240  # a quoted sentence longer than this is cut around the span


def add_answer_options(p: argparse.ArgumentParser) -> None:
    """How the answer is written (the same as the REST fields ``mode``, ``tools``, ``abstain``, ``context``)."""
    g = p.add_argument_group("answer")
    g.add_argument(
        "--mode",
        choices=("reader", "auto", "passages", "focus", "extract"),
        help="reader (default): the trained span reader picks the answer's words out of the passages, no generation; "
        "the model writes it from: passages: whole passages; focus: the best sentences; extract: the likeliest span "
        "of them; auto: focus for why/explain/how-does questions, extract otherwise",
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
        answer = answer_json(result)
    if args.json:
        print(json.dumps(answer, indent=2, default=str))
    else:
        print_answer(answer)
    return 0


def answer_json(answer: Answer) -> dict:
    """A local answer in the JSON shape of the server's /query response, which ``print_answer`` and ``--json`` read."""
    return {
        "answer": answer.answer,
        "abstained": answer.abstained,
        "abstain_reason": answer.abstain_reason,
        "mode": answer.mode,
        "context": answer.context,
        "relevance": answer.relevance,
        "span": None if answer.span is None else dataclasses.asdict(answer.span),
        "citations": [dataclasses.asdict(c) for c in answer.citations],
        "sentences": [dict(dataclasses.asdict(s), cited=list(s.cited)) for s in answer.sentences],
        "tool_calls": [
            {
                "name": c.name,
                "arguments": c.arguments,
                "result": c.result.text if c.result else None,
                "value": c.result.value if c.result else None,
                "error": c.error,
            }
            for c in answer.tool_calls
        ],
        "passages": [dict(number=p.number, **dataclasses.asdict(p.chunk)) for p in answer.passages],
        "timings": answer.timings.as_dict(),
        "usage": dataclasses.asdict(answer.usage),
    }


def print_answer(answer: dict) -> None:
    """The answer, its tool calls, each sentence's support, the sources, and the closest passages when it abstains.

    ``answer`` is the JSON form of an answer (``answer_json`` or the server's ``/query`` response).
    """
    print(answer["answer"])
    for line in span_lines(answer):
        print(line)
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


def span_lines(answer: dict) -> list[str]:
    """Mode "reader": the sentence that holds the span, quoted, and where it is; or, when it abstained, the
    closest span and why it was not taken. Empty in the other modes."""
    span = answer.get("span")
    if not span:
        return []
    if answer.get("abstained"):
        return [f'Closest span, not taken (confidence {span["confidence"]:.2f}): "{span["text"]}" [{span["passage"]}]']
    cited = [c for c in answer.get("citations") or [] if c["how"] == "reader" and c.get("quote") is not None]
    return [quote_line(c) for c in cited]


def quote_line(citation: dict) -> str:
    """``> "...sentence..." — file.md, page 2, characters a-b``: the span's sentence and the span's characters."""
    quote = shorten(citation["quote"], citation["quote_span_start"], citation["quote_span_end"])
    page = f", page {citation['page']}" if citation.get("page") is not None else ""
    page = f", {citation['location']}" if citation.get("location") else page
    if citation.get("span_start") is not None:
        where = f"characters {citation['span_start']}-{citation['span_end']}"
    else:  # the span lies in a table header repeated into the passage: the passage's range
        where = f"characters {citation['char_start']}-{citation['char_end']}"
    return f'> "{" ".join(quote.split())}" — {citation["filename"]}{page}, {where}'


def shorten(text: str, start: int, end: int, width: int = QUOTE_CHARS) -> str:
    """``text`` cut to ``width`` characters around ``[start, end)`` (marked "…" where cut); whole when it fits."""
    if len(text) <= width:
        return text
    left = max(0, min(start - max(0, width - (end - start)) // 2, len(text) - width))
    return ("…" if left else "") + text[left : left + width] + ("…" if left + width < len(text) else "")
