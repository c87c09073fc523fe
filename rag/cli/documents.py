"""``rag ingest``, ``rag search`` and ``rag ask``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from indexes.errors import InvalidInputError, RAGError


def register(sub) -> None:
    p = sub.add_parser("ingest", help="parse, chunk, embed and store files")
    p.add_argument("paths", nargs="+", help="files or directories (searched recursively for supported types)")
    p.add_argument("--collection", default="default", help="collection name (created if missing)")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("search", help="find the passages most similar to a text")
    p.add_argument("text")
    p.add_argument("-k", type=int, default=10, help="number of results")
    p.add_argument("--collection", default="default")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("ask", help="answer a question from the stored documents, with citations")
    p.add_argument("question")
    p.add_argument("-k", type=int, default=5, help="passages given to the model")
    p.add_argument("--collection", default="default")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_ask)


def _platform(args):
    from rag.cli import settings_from
    from rag.platform import Platform

    return Platform(settings_from(args))


def expand_paths(paths: list[str]) -> list[Path]:
    from ingest.parse import SUPPORTED_TYPES

    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_TYPES))
        elif path.is_file():
            files.append(path)
        else:
            raise InvalidInputError(f"{raw} does not exist")
    return files


def cmd_ingest(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    files = expand_paths(args.paths)
    platform = _platform(args)
    failures = 0
    try:
        pipeline = platform.ingest_pipeline
        # chunk counts are known only once a file is chunked, so the bar counts chunks and their rate, no total
        with tqdm(unit="chunk", desc="embedding", disable=not sys.stderr.isatty(), file=sys.stderr) as bar:
            for path in files:
                try:
                    result = pipeline.ingest(
                        args.collection, path.name, path.read_bytes(), progress=lambda n: bar.update(n)
                    )
                except RAGError as exc:
                    failures += 1
                    print(f"skipped {path}: {exc}", file=sys.stderr)
                    continue
                state = "duplicate of" if result.duplicate else "stored as"
                tqdm.write(f"{path}: {state} document {result.document_id} ({result.n_chunks} chunks)", file=sys.stdout)
    finally:
        platform.close()
    return 1 if failures and failures == len(files) else 0


def cmd_search(args: argparse.Namespace) -> int:
    from rag.pipeline.query import check_query

    platform = _platform(args)
    try:
        hits = platform.retriever(args.collection, check_query(args.text, args.k), args.k)
    finally:
        platform.close()
    if args.json:
        print(json.dumps([h.__dict__ for h in hits], indent=2, default=list))
        return 0
    for rank, h in enumerate(hits, 1):
        where = f":{h.page}" if h.page else ""
        snippet = " ".join(h.text.split())[:160]
        print(f"{rank:2d}. {h.score:.3f} {h.filename}{where}:{h.char_start}-{h.char_end}  {snippet}")
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    platform = _platform(args)
    try:
        answer = platform.query_pipeline.ask(args.collection, args.question, args.k)
    finally:
        platform.close()
    if args.json:
        print(
            json.dumps(
                {
                    "answer": answer.answer,
                    "citations": [c.__dict__ for c in answer.citations],
                    "timings": answer.timings,
                    "usage": answer.usage,
                },
                indent=2,
            )
        )
        return 0
    print(answer.answer)
    if answer.citations:
        print("\nSources:")
        for c in answer.citations:
            page = c.page if c.page is not None else "-"
            print(f"  [{c.number}] {c.filename}:{page}:{c.char_start}-{c.char_end}")
    return 0
